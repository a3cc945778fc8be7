/* Screens HDF5 bytes for corruptions that hang or crash libhdf5 1.10
 * (found by tests/fuzz/fuzz_h5_weights; the corpus keeps each input).
 *
 * Variable-length strings, which Keras uses for model_config and layer
 * names, live in "global heap collections" and are referenced as (length,
 * collection address, object index). libhdf5 1.10 trusts both sides:
 *  - its collection parser steps from object to object by each object's
 *    declared size, so a zero size loops forever (hang_gcol_zero_size.h5);
 *  - reading a string indexes the collection's object table with the
 *    reference's index unchecked and copies the object's size into a buffer
 *    sized by the reference's length (crash_heap_bad_index.h5).
 * The screen walks every collection as libhdf5 does, then checks every
 * string reference that points at one, outside the raw data of datasets.
 * It also checks the object header fields libhdf5 1.10 trusts when it
 * decodes them (continuations, first blocks, attribute messages), found
 * by changing bytes of real Keras files.
 * Keras and h5py write 8-byte addresses and lengths and a base address of
 * 0, which is what the layout below assumes; vlen data other than strings
 * (never in Keras files) would be refused. */
/* SEEK_HOLE and SEEK_DATA (Linux, the BSDs, Solaris) are not POSIX. */
#define _GNU_SOURCE
#include "ck_io.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* "GCOL", version 1, 3 reserved bytes, 8-byte collection size. */
enum { GCOL_HEADER = 16, GCOL_VERSION = 1 };
/* Object index (2), reference count (2), reserved (4), size (8). */
enum { OBJECT_HEADER = 16 };
/* A string reference: length (4), collection address (8), index (4). */
enum { REF_LEN = 4, REF_ADDR = 8 };

typedef struct heap_object {
    uint64_t collection; /* file offset of its collection */
    unsigned idx;
    uint64_t size;
    size_t order; /* position in the walk: a later duplicate wins, as in libhdf5 */
} heap_object;

typedef struct collection {
    uint64_t addr, size;
    bool malformed;
    size_t malformed_at; /* file offset of the first bad object */
} collection;

/* A byte range: a collection's, or the raw data of a contiguous dataset
 * (floats, never string references). */
typedef struct span {
    uint64_t addr, size;
} span;

/* Every table is sorted once and then searched by bisection, so the whole
 * screen is O(n log n) in the file size: a file flooded with tiny
 * collections costs no more than any other file of its size. */
typedef struct heap_table {
    heap_object *objs;
    size_t n, cap;
    collection *collections; /* by address: the scan finds them in file order */
    size_t n_coll, cap_coll;
    span *raw;
    size_t n_raw, cap_raw;
    span *covered; /* the collections' spans, merged */
    size_t n_covered;
    uint64_t *malformed; /* addresses of malformed collections, sorted */
    size_t n_malformed;
    uint64_t lowest, highest; /* range of collection addresses */
    const span *holes;        /* of a sparse file, sorted: zeros never read */
    size_t n_holes;
    /* Bytes of version 2 header chunks still to checksum: chunks do not
     * overlap, so a file's own add up to less than its size, and a file
     * whose headers claim more is refused (each would be hashed again). */
    size_t *v2_left;
    /* Local heaps' free blocks left to walk: real heaps do not overlap, so
     * all their free blocks together fit the file 16 bytes each; a file of
     * many heaps sharing one long list would be walked over and over. */
    size_t *free_blocks_left;
} heap_table;

static uint64_t read_le(const unsigned char *p, int bytes)
{
    uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static ck_status corrupt(const char *label, size_t offset)
{
    return ck_error(CK_ERR_FORMAT,
                    "%s is a corrupt HDF5 file (malformed global heap data at byte %zu)", label,
                    offset);
}

static ck_status push(void **items, size_t *n, size_t *cap, size_t item_size, const void *item)
{
    if (*n == *cap) {
        size_t grown = *cap ? 2 * *cap : 16;
        void *p = ck_realloc_array(*items, grown, item_size);
        if (!p)
            return CK_ERR_MEMORY;
        *items = p;
        *cap = grown;
    }
    memcpy((char *)*items + *n * item_size, item, item_size);
    (*n)++;
    return CK_OK;
}

/* Records the objects of the collection at offset `at`; marks it
 * malformed when a step would not advance or would leave the collection
 * (check_malformed decides whether that matters). */
static ck_status walk_collection(const unsigned char *b, size_t size, size_t at, heap_table *t)
{
    const unsigned char *c = b + at;
    size_t avail = size - at;
    if (avail < GCOL_HEADER)
        return CK_OK;
    uint64_t declared = read_le(c + 8, 8);
    size_t len = declared < avail ? (size_t)declared : avail;
    CK_TRY(push((void **)&t->collections, &t->n_coll, &t->cap_coll, sizeof(collection),
                &(collection){.addr = at, .size = len}));
    size_t off = GCOL_HEADER;
    /* A tail too short for an object header is free space, as in libhdf5. */
    while (off < len && len - off >= OBJECT_HEADER) {
        unsigned idx = (unsigned)read_le(c + off, 2);
        uint64_t obj = read_le(c + off + 8, 8);
        /* Object 0 is the free space: its size already spans its header. */
        uint64_t step = idx ? OBJECT_HEADER + ((obj + 7) & ~(uint64_t)7) : obj;
        if (step == 0 || step > len - off || (idx && obj > len)) {
            t->collections[t->n_coll - 1].malformed = true;
            t->collections[t->n_coll - 1].malformed_at = at + off;
            return CK_OK;
        }
        if (idx)
            CK_TRY(push((void **)&t->objs, &t->n, &t->cap, sizeof(heap_object),
                        &(heap_object){at, idx, obj, t->n}));
        off += (size_t)step;
    }
    return CK_OK;
}

static int by_span(const void *a, const void *b)
{
    const span *x = a, *y = b;
    return x->addr < y->addr ? -1 : x->addr > y->addr;
}

static int by_object(const void *a, const void *b)
{
    const heap_object *x = a, *y = b;
    if (x->collection != y->collection)
        return x->collection < y->collection ? -1 : 1;
    if (x->idx != y->idx)
        return x->idx < y->idx ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

/* `at`, or the end of the hole it falls in less 7 bytes (a value starting
 * there may end in data); *run gets where the next hole begins (or
 * SIZE_MAX). Holes read as zeros and hold nothing the scans look for, and
 * reading them would fault in every page of a 2 GiB sparse file. */
static size_t data_from(const heap_table *t, size_t at, size_t *run)
{
    size_t lo = 0, hi = t->n_holes;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (t->holes[mid].addr + t->holes[mid].size <= at)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < t->n_holes && t->holes[lo].addr <= at) {
        size_t past = (size_t)(t->holes[lo].addr + t->holes[lo].size) - 7;
        at = past > at ? past : at;
        lo++;
    }
    *run = lo < t->n_holes ? (size_t)t->holes[lo].addr : SIZE_MAX;
    return at;
}

/* The first position from `at` whose 8-byte value is not zero. Every
 * address the scans look for is non-zero, so runs of zeros (a sparse or
 * padded file) are skipped a word at a time, and holes at once. */
static size_t skip_zero_values(const heap_table *t, const unsigned char *b, size_t at, size_t end)
{
    size_t k = at, run;
    while (k < end) {
        k = data_from(t, k, &run);
        size_t stop = run < end ? run : end;
        for (uint64_t w = 0; k + 8 <= stop; k += 8) {
            memcpy(&w, b + k, 8);
            if (w)
                break;
        }
        while (k < stop && !b[k])
            k++;
        if (k < stop)
            break;
    }
    return k >= at + 7 ? k - 7 : at;
}

/* Sorts spans and merges the overlapping ones, in place. */
static size_t merge_spans(span *s, size_t n)
{
    if (n == 0)
        return 0;
    qsort(s, n, sizeof *s, by_span);
    size_t out = 0;
    for (size_t i = 0; i < n; i++) {
        if (out && s[i].addr <= s[out - 1].addr + s[out - 1].size) {
            uint64_t end = s[i].addr + s[i].size, prev = s[out - 1].addr + s[out - 1].size;
            s[out - 1].size = (end > prev ? end : prev) - s[out - 1].addr;
        } else {
            s[out++] = s[i];
        }
    }
    return out;
}

static bool in_spans(const span *s, size_t n, uint64_t offset)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s[mid].addr <= offset)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo > 0 && offset - s[lo - 1].addr < s[lo - 1].size;
}

/* Sorts the tables and derives the merged and malformed views. */
static ck_status index_table(heap_table *t)
{
    if (t->n)
        qsort(t->objs, t->n, sizeof *t->objs, by_object);
    t->covered = ck_alloc(t->n_coll, sizeof *t->covered);
    t->malformed = t->covered ? ck_alloc(t->n_coll, sizeof *t->malformed) : NULL;
    if (!t->malformed)
        return CK_ERR_MEMORY;
    for (size_t i = 0; i < t->n_coll; i++) {
        t->covered[i] = (span){t->collections[i].addr, t->collections[i].size};
        if (t->collections[i].malformed)
            t->malformed[t->n_malformed++] = t->collections[i].addr;
    }
    t->n_covered = merge_spans(t->covered, t->n_coll);
    t->lowest = t->collections[0].addr;
    t->highest = t->collections[t->n_coll - 1].addr;
    return CK_OK;
}

static const collection *find_collection(const heap_table *t, uint64_t addr)
{
    if (addr < t->lowest || addr > t->highest)
        return NULL;
    size_t lo = 0, hi = t->n_coll;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (t->collections[mid].addr < addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < t->n_coll && t->collections[lo].addr == addr ? &t->collections[lo] : NULL;
}

/* Whether a reference (length, addr, idx) names an object that exists
 * and fits the buffer libhdf5 sizes by `length`. */
/* The object (addr, idx) of the heap, the last of duplicates as in
 * libhdf5, or NULL. */
static const heap_object *find_object(const heap_table *t, uint64_t addr, unsigned idx)
{
    heap_object key = {addr, idx, 0, SIZE_MAX};
    size_t lo = 0, hi = t->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (by_object(&t->objs[mid], &key) <= 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    const heap_object *o = lo ? &t->objs[lo - 1] : NULL;
    return o && o->collection == addr && o->idx == idx ? o : NULL;
}

static bool reference_is_sane(const heap_table *t, uint64_t length, uint64_t addr, unsigned idx)
{
    const heap_object *o = find_object(t, addr, idx);
    return o && o->size <= length;
}

/* A contiguous dataset's layout message (version 3 or 4, class 1) holds
 * the address of its raw data: such a pointer makes libhdf5 read floats,
 * never parse a heap. */
static bool is_layout_pointer(const unsigned char *b, size_t at)
{
    return at >= 2 && b[at - 1] == 1 && (b[at - 2] == 3 || b[at - 2] == 4);
}

/* Records the raw data region of every contiguous layout message (version,
 * class 1, address, size): weights stored there can hold any bit pattern,
 * including ones that look like a string reference (a denormal float whose
 * bits equal a collection's address), and libhdf5 never reads references
 * from a float dataset. */
static ck_status find_raw_regions(const unsigned char *b, size_t size, heap_table *t)
{
    for (size_t at = 2, run; at + 16 <= size; at++) {
        at = data_from(t, at, &run);
        size_t stop = run < size - 16 ? run : size - 16;
        const unsigned char *one = at - 1 < stop ? memchr(b + at - 1, 1, stop - (at - 1)) : NULL;
        if (!one) {
            at = stop;
            continue;
        }
        at = (size_t)(one - b) + 1;
        if (!is_layout_pointer(b, at))
            continue;
        uint64_t addr = read_le(b + at, 8), len = read_le(b + at + 8, 8);
        if (len > 0 && addr < size && len <= size - addr)
            CK_TRY(
                push((void **)&t->raw, &t->n_raw, &t->cap_raw, sizeof(span), &(span){addr, len}));
    }
    return CK_OK;
}

/* The first position from `at` whose length field (at - REF_LEN) is not in
 * a dataset's raw data. Both reference scans ignore such positions, so
 * they jump over the weights, which are nearly all of a Keras file. `next`
 * is the first raw span that may still lie ahead (the scans move forward). */
static size_t skip_raw_data(const heap_table *t, size_t *next, size_t at)
{
    while (*next < t->n_raw && t->raw[*next].addr + t->raw[*next].size <= at - REF_LEN)
        (*next)++;
    if (*next < t->n_raw && t->raw[*next].addr <= at - REF_LEN)
        return (size_t)(t->raw[*next].addr + t->raw[*next].size) + REF_LEN;
    return at;
}

static bool is_malformed_addr(const heap_table *t, uint64_t v)
{
    size_t lo = 0, hi = t->n_malformed;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (t->malformed[mid] < v)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < t->n_malformed && t->malformed[lo] == v;
}

/* "GCOL\x01" can occur by chance in float data, and a walk over such
 * bytes fails. libhdf5 only parses a collection that a string reference
 * (length, address, index) points to, so a malformed collection is an
 * error only when its address appears outside it behind a non-zero length
 * and is not a dataset's data pointer. (A hostile reference whose length
 * mimics a layout message still passes; libhdf5 1.10 is then on its own.) */
static ck_status check_malformed(const unsigned char *b, size_t size, const heap_table *t,
                                 const char *label)
{
    size_t next_raw = 0;
    for (size_t at = REF_LEN; t->n_malformed && at + 8 <= size; at++) {
        at = skip_raw_data(t, &next_raw, skip_zero_values(t, b, at, size));
        if (at + 8 > size)
            break;
        uint64_t v = read_le(b + at, 8);
        if (v < t->lowest || v > t->highest || !is_malformed_addr(t, v))
            continue;
        const collection *c = find_collection(t, v);
        if ((at < c->addr || at - c->addr >= c->size) && read_le(b + at - REF_LEN, REF_LEN) != 0 &&
            !is_layout_pointer(b, at) && !in_spans(t->raw, t->n_raw, at - REF_LEN))
            return corrupt(label, c->malformed_at);
    }
    return CK_OK;
}

/* Every 8-byte value equal to a collection's address, preceded by a
 * length that fits in that collection and followed by an index, is taken
 * as a reference. (Object headers and B-trees hold such addresses too,
 * but behind zero or large values.) */
static ck_status check_references(const unsigned char *b, size_t size, const heap_table *t,
                                  const char *label)
{
    size_t next_raw = 0;
    for (size_t at = REF_LEN; at + REF_ADDR + 4 <= size; at++) {
        at = skip_raw_data(t, &next_raw, skip_zero_values(t, b, at, size));
        if (at + REF_ADDR + 4 > size)
            break;
        const collection *c = find_collection(t, read_le(b + at, 8));
        if (!c)
            continue;
        uint64_t length = read_le(b + at - REF_LEN, 4);
        if (length && length <= c->size && !in_spans(t->covered, t->n_covered, at - REF_LEN) &&
            !in_spans(t->raw, t->n_raw, at - REF_LEN) &&
            !reference_is_sane(t, length, c->addr, (unsigned)read_le(b + at + REF_ADDR, 4)))
            return corrupt(label, at - REF_LEN);
    }
    return CK_OK;
}

/* The end of the file as its superblock declares it: libhdf5 reads
 * nothing past that address, so neither does the screen (a file padded
 * with gigabytes of zeros is screened as fast as the file it pads).
 * Superblock versions 0 and 1 (what h5py writes by default) keep it after
 * the base and free-space addresses, versions 2 and 3 after the base and
 * extension addresses. The whole size when there is no superblock at 0. */
static size_t declared_end(const unsigned char *b, size_t size)
{
    static const unsigned char signature[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
    if (size < 64 || memcmp(b, signature, 8) != 0)
        return size;
    size_t at;
    switch (b[8]) {
    case 0:
        at = 24 + 16;
        break;
    case 1:
        at = 28 + 16;
        break;
    case 2:
    case 3:
        at = 12 + 16;
        break;
    default:
        return size;
    }
    uint64_t end = read_le(b + at, 8);
    return end > 0 && end < size ? (size_t)end : size;
}

/* Calls check on every place where the sig_len bytes of `sig` start,
 * outside the datasets' raw data (weights may hold any bytes), with at
 * least `need` bytes from there to the end. */
typedef ck_status (*sig_check)(const unsigned char *b, size_t size, const heap_table *t, size_t at,
                               const char *label);

static ck_status scan_metadata(const unsigned char *b, size_t size, const heap_table *t,
                               const unsigned char *sig, size_t sig_len, size_t need,
                               sig_check check, const char *label)
{
    size_t next_raw = 0;
    for (size_t at = 0, run; at + need <= size;) {
        at = data_from(t, at, &run);
        while (next_raw < t->n_raw && t->raw[next_raw].addr + t->raw[next_raw].size <= at)
            next_raw++;
        if (next_raw < t->n_raw && t->raw[next_raw].addr <= at) {
            at = (size_t)(t->raw[next_raw].addr + t->raw[next_raw].size);
            continue;
        }
        size_t stop = run < size ? run : size;
        if (next_raw < t->n_raw && t->raw[next_raw].addr < stop)
            stop = (size_t)t->raw[next_raw].addr + 3;
        const unsigned char *hit = at < stop ? memmem(b + at, stop - at, sig, sig_len) : NULL;
        if (!hit) {
            at = stop > at ? stop : at + 1;
            continue;
        }
        at = (size_t)(hit - b);
        if (at + need <= size)
            CK_TRY(check(b, size, t, at, label));
        at++;
    }
    return CK_OK;
}

static ck_status corrupt_header(const char *label, const char *what, size_t at, const char *why)
{
    return ck_error(CK_ERR_FORMAT, "%s is a corrupt HDF5 file (the %s at byte %zu %s)", label, what,
                    at, why);
}

/* libhdf5 1.10 allocates the block an object header continuation message
 * (version 1 headers: type 0x10, size 16, flags, 3 reserved bytes, then
 * address and length) points at before reading it: one flipped byte asks
 * malloc for 512 TiB. Every such message must point inside the file. */
static ck_status check_continuation(const unsigned char *b, size_t size, const heap_table *t,
                                    size_t at, const char *label)
{
    (void)t;
    if (b[at + 5] || b[at + 6] || b[at + 7])
        return CK_OK;
    uint64_t addr = read_le(b + at + 8, 8), len = read_le(b + at + 16, 8);
    return addr > size || len > size - addr
               ? corrupt_header(label, "object header continuation", at, "lies past its end")
               : CK_OK;
}

/* A local heap ("HEAP", version 0, 3 reserved bytes, then the data
 * segment's size, the offset of the first free block and the segment's
 * address). libhdf5 1.10 follows the free list, block to block, allocating
 * a node for each, and never notices a list that comes back on itself: a
 * fuzzed file took all memory. Each free block holds the next one's offset
 * and its own size (16 bytes), so a list longer than the segment holds
 * blocks of 16 bytes is a loop. A list that leaves the segment stops the
 * walk: libhdf5 refuses that one itself. */
#define HEAP_FREE_NONE 1
#define HEAP_FREE_BLOCK 16

static ck_status check_local_heap(const unsigned char *b, size_t size, const heap_table *t,
                                  size_t at, const char *label)
{
    uint64_t seg_size = read_le(b + at + 8, 8), free = read_le(b + at + 16, 8),
             seg = read_le(b + at + 24, 8);
    if (b[at + 4] != 0 || seg > size || seg_size > size - seg)
        return CK_OK;
    for (uint64_t steps = 0; free != HEAP_FREE_NONE; steps++) {
        if (seg_size < HEAP_FREE_BLOCK || free > seg_size - HEAP_FREE_BLOCK)
            return CK_OK;
        if (steps > seg_size / HEAP_FREE_BLOCK)
            return corrupt_header(label, "local heap", at, "has a free list that loops");
        if (*t->free_blocks_left == 0)
            return corrupt_header(label, "local heap", at,
                                  "has free blocks that other heaps hold too");
        --*t->free_blocks_left;
        free = read_le(b + seg + free, 8);
    }
    return CK_OK;
}

/* Whether a version 1 object header message header starts at `at`: a
 * known type, a size in 8-byte units and 3 zero reserved bytes. */
static bool is_message_header(const unsigned char *b, size_t at)
{
    return b[at] <= 0x18 && !b[at + 1] && read_le(b + at + 2, 2) % 8 == 0 && !b[at + 5] &&
           !b[at + 6] && !b[at + 7];
}

/* A version 1 object header (version 1, a reserved 0, a message count,
 * a reference count, the size of its first block, 4 bytes of padding,
 * then a message): libhdf5 1.10 reads a block of the declared size and,
 * when that runs past the file, fails leaving objects open (a leak, and
 * "infinite loop closing library" at exit). */
static ck_status check_object_header(const unsigned char *b, size_t size, const heap_table *t,
                                     size_t at, const char *label)
{
    (void)t;
    uint64_t messages = read_le(b + at + 2, 2), refs = read_le(b + at + 4, 4),
             block = read_le(b + at + 8, 4);
    /* The first message is a real one (not the NIL type 0 that fills gaps)
     * and fits the block: bytes of other structures rarely pass for this. */
    if (!messages || !refs || refs > 64 || read_le(b + at + 12, 4) ||
        !is_message_header(b, at + 16) || b[at + 16] == 0 || read_le(b + at + 18, 2) + 8 > block)
        return CK_OK;
    return block > size - (at + 16)
               ? corrupt_header(label, "object header", at, "runs past its end")
               : CK_OK;
}

/* The bytes a datatype message needs to say what it declares, or 0 when
 * it cannot be read in `avail` bytes: libhdf5 1.10 decodes a datatype,
 * its base types and an enumeration's names and values by what they
 * declare, reading past the message. A compound type counts as its
 * header: its members are not walked. */
static size_t datatype_len(const unsigned char *dt, size_t avail, int depth)
{
    static const unsigned char props[] = {4, 12, 2, 0, 4, 0, 0, 0, 0, 0, 0};
    if (avail < 8 || depth > 4)
        return 0;
    unsigned cls = dt[0] & 0x0f, version = dt[0] >> 4;
    if (cls > 10 || version < 1 || version > 4)
        return 0;
    size_t len = 8 + props[cls];
    if (cls == 5) /* opaque: its tag */
        len += dt[1];
    if (cls == 8 || cls == 9) { /* enumeration, variable-length: their base */
        size_t base = datatype_len(dt + 8, avail - 8, depth + 1);
        len = base ? len + base : 0;
    }
    if (cls == 10) { /* array: rank, dimensions (and permutations before version 3), base */
        size_t rank = avail > 8 ? dt[8] : 0, head = version < 3 ? 4 + rank * 8 : 1 + rank * 4;
        size_t base = head < avail - 8 ? datatype_len(dt + 8 + head, avail - 8 - head, depth + 1)
                                       : 0;
        len = base ? len + head + base : 0;
    }
    if (cls == 8 && len) { /* the members' names, then their values */
        size_t members = (size_t)read_le(dt + 1, 2), size = (size_t)read_le(dt + 4, 4);
        for (size_t i = 0; i < members && len; i++) {
            const unsigned char *end = len < avail ? memchr(dt + len, 0, avail - len) : NULL;
            size_t name = end ? (size_t)(end - (dt + len)) + 1 : 0;
            len = name ? len + (version < 3 ? (name + 7) & ~(size_t)7 : name) : 0;
        }
        len = len && size <= 16 && members * size <= avail - len ? len + members * size : 0;
    }
    return len <= avail ? len : 0;
}

/* The bytes of an attribute's value: the element size its datatype
 * message declares times the element count of its dataspace message
 * (versions 1 and 2); false when either cannot hold what it declares. */
static bool attribute_value_bytes(const unsigned char *dt, size_t dt_len, const unsigned char *ds,
                                  size_t ds_len, uint64_t *bytes)
{
    if (!datatype_len(dt, dt_len, 0) || ds_len < 4 || (ds[0] != 1 && ds[0] != 2))
        return false;
    size_t rank = ds[1], dims_at = ds[0] == 1 ? 8 : 4;
    if (rank > 32 || dims_at + rank * 8 > ds_len)
        return false;
    uint64_t n = ds[0] == 2 && ds[3] == 2 ? 0 : 1; /* version 2 type 2: the null dataspace */
    for (size_t i = 0; i < rank && n; i++) {
        uint64_t d = read_le(ds + dims_at + i * 8, 8);
        if (d && n > UINT64_MAX / d)
            return false;
        n *= d;
    }
    uint64_t element = read_le(dt + 4, 4);
    if (element && n > UINT64_MAX / element)
        return false;
    *bytes = n * element;
    return true;
}

/* A variable-length value (datatype class 9) holds references (length, heap
 * address, index) to a sequence of its base type, which libhdf5 1.10
 * allocates and clears at length times the base size before reading it:
 * a flipped byte in either makes it clear gigabytes, for minutes; a
 * reference to no heap object fails the read after libhdf5 has allocated
 * the strings before it, which it then leaks. So a string (what Keras
 * writes) has 1-byte characters, and each reference names an object of
 * exactly its length (an empty string reads no object). */
static bool vlen_is_sane(const heap_table *t, const unsigned char *dt, size_t dt_len,
                         const unsigned char *value, uint64_t value_bytes)
{
    if ((dt[0] & 0x0f) != 9)
        return true;
    if (dt_len < 16 || read_le(dt + 12, 4) != 1 || read_le(dt + 4, 4) != 16 || value_bytes % 16)
        return false;
    for (uint64_t at = 0; at < value_bytes; at += 16) {
        uint64_t length = read_le(value + at, 4), addr = read_le(value + at + 4, 8);
        const heap_object *o = find_object(t, addr, (unsigned)read_le(value + at + 12, 4));
        if (length && (!o || o->size != length))
            return false;
    }
    return true;
}

/* An attribute message (type 0x0C): libhdf5 1.10 decodes its name,
 * datatype and dataspace by the sizes it declares and copies the value
 * they imply, checking none of them against the message's own size: one
 * flipped byte makes it read far past the message. Version 1 pads each
 * part to 8 bytes; versions 2 and 3 do not, and 3 adds an encoding byte. */
static ck_status check_attribute(const unsigned char *b, size_t size, const heap_table *t,
                                 size_t at, const char *label)
{
    const unsigned char *m = b + at + 8;
    unsigned version = m[0];
    size_t msg = (size_t)read_le(b + at + 2, 2);
    /* A shared message (flag 2) holds a reference, not the attribute. */
    if (!is_message_header(b, at) || (b[at + 4] & 2) || version < 1 || version > 3 ||
        (version == 1 && m[1]) || msg < 8 || msg > size - (at + 8))
        return CK_OK;
    size_t name = (size_t)read_le(m + 2, 2), dt = (size_t)read_le(m + 4, 2),
           ds = (size_t)read_le(m + 6, 2), fields = version == 3 ? 9 : 8;
    size_t pad = version == 1 ? 7 : 0, mask = version == 1 ? ~(size_t)7 : ~(size_t)0;
    size_t name_at = fields, dt_at = name_at + ((name + pad) & mask),
           ds_at = dt_at + ((dt + pad) & mask), value_at = ds_at + ((ds + pad) & mask);
    uint64_t value = 0;
    if (name == 0 || value_at > msg ||
        !attribute_value_bytes(m + dt_at, dt, m + ds_at, ds, &value) || value > msg - value_at ||
        !vlen_is_sane(t, m + dt_at, dt, m + value_at, value))
        return corrupt_header(label, "attribute message", at, "declares more than it holds");
    return CK_OK;
}

/* libhdf5's checksum of metadata (Jenkins' lookup3): exported by every
 * libhdf5 from 1.8.7 on, though its public headers do not declare it.
 * Weak, so a libhdf5 without it leaves version 2 headers unchecked. */
extern uint32_t H5_checksum_metadata(const void *data, size_t len, uint32_t initval)
    __attribute__((weak));

enum { V2_MESSAGE = 4, V2_CONTINUATION = 0x10, MAX_V2_CHUNKS = 256 };

/* A version 2 object header chunk of `len` bytes at `at` ("OHDR" or
 * "OCHK"), its messages from `first` on and its checksum last. libhdf5
 * 1.10 checks that checksum when it reads the chunk and, when it fails,
 * keeps the file open for good: H5Fclose cannot release it, and the
 * library reports "infinite loop closing library" at exit. So each chunk
 * the header reaches through its continuation messages is checked here;
 * *budget bounds the chunks of one header (continuations may loop). */
static ck_status check_v2_chunk(const unsigned char *b, size_t size, const heap_table *t, size_t at,
                                uint64_t len, size_t first, bool ordered, int *budget,
                                const char *label)
{
    if (len < first - at + 4 || at > size || len > size - at)
        return corrupt_header(label, "object header", at, "runs past its end");
    if (len > *t->v2_left)
        return corrupt_header(label, "object header", at, "overlaps others");
    *t->v2_left -= (size_t)len;
    if (H5_checksum_metadata(b + at, (size_t)len - 4, 0) != (uint32_t)read_le(b + at + len - 4, 4))
        return corrupt_header(label, "object header", at, "fails its checksum");
    size_t end = at + (size_t)len - 4, head = V2_MESSAGE + (ordered ? 2 : 0);
    for (size_t p = first; p + head <= end;) {
        uint64_t body = read_le(b + p + 1, 2);
        if (body > end - p - head)
            break; /* the gap that ends a chunk */
        if (b[p] == V2_CONTINUATION && body >= 16) {
            uint64_t addr = read_le(b + p + head, 8), chunk = read_le(b + p + head + 8, 8);
            if (--*budget < 0)
                return corrupt_header(label, "object header", at, "has too many continuations");
            if (addr > size - 4 || memcmp(b + addr, "OCHK", 4) != 0)
                return corrupt_header(label, "object header continuation", p,
                                      "points at no continuation block");
            CK_TRY(check_v2_chunk(b, size, t, (size_t)addr, chunk, (size_t)addr + 4, ordered,
                                  budget, label));
        }
        p += head + (size_t)body;
    }
    return CK_OK;
}

/* A version 2 object header: "OHDR", version 2, flags, the times (flag
 * 0x20) and attribute thresholds (0x10) when present, the first chunk's
 * size in 1, 2, 4 or 8 bytes (flags & 3), its messages (each with a
 * creation order with flag 0x04), then the checksum. */
static ck_status check_v2_header(const unsigned char *b, size_t size, const heap_table *t,
                                 size_t at, const char *label)
{
    unsigned flags = b[at + 5];
    if (b[at + 4] != 2 || !H5_checksum_metadata)
        return CK_OK;
    size_t width = (size_t)1 << (flags & 3),
           p = at + 6 + (flags & 0x20 ? 16 : 0) + (flags & 0x10 ? 4 : 0);
    if (p + width > size)
        return corrupt_header(label, "object header", at, "runs past its end");
    uint64_t chunk = read_le(b + p, (int)width);
    int budget = MAX_V2_CHUNKS;
    if (chunk > size)
        return corrupt_header(label, "object header", at, "runs past its end");
    return check_v2_chunk(b, size, t, at, p + width - at + chunk + 4, p + width, flags & 0x04,
                          &budget, label);
}

static ck_status check_headers(const unsigned char *b, size_t size, const heap_table *t,
                               const char *label)
{
    static const unsigned char continuation[4] = {0x10, 0, 0x10, 0}, header[2] = {1, 0},
                               attribute[2] = {0x0c, 0}, header_v2[4] = {'O', 'H', 'D', 'R'},
                               local_heap[4] = {'H', 'E', 'A', 'P'};
    CK_TRY(scan_metadata(b, size, t, continuation, 4, 24, check_continuation, label));
    CK_TRY(scan_metadata(b, size, t, header, 2, 24, check_object_header, label));
    CK_TRY(scan_metadata(b, size, t, header_v2, 4, 8, check_v2_header, label));
    CK_TRY(scan_metadata(b, size, t, local_heap, 4, 32, check_local_heap, label));
    return scan_metadata(b, size, t, attribute, 2, 16, check_attribute, label);
}

static ck_status screen(const unsigned char *b, size_t size, const span *holes, size_t n_holes,
                        const char *label)
{
    size = declared_end(b, size);
    size_t v2_left = size, free_blocks_left = size / HEAP_FREE_BLOCK;
    heap_table t = {.holes = holes,
                    .n_holes = n_holes,
                    .v2_left = &v2_left,
                    .free_blocks_left = &free_blocks_left};
    ck_status st = CK_OK;
    for (size_t at = 0, run; st == CK_OK && at + 5 <= size;) {
        at = data_from(&t, at, &run);
        size_t stop = run < size - 4 ? run : size - 4;
        const unsigned char *hit = at < stop ? memchr(b + at, 'G', stop - at) : NULL;
        if (!hit) {
            at = stop;
            continue;
        }
        at = (size_t)(hit - b);
        if (memcmp(hit, "GCOL", 4) == 0 && hit[4] == GCOL_VERSION)
            st = walk_collection(b, size, at, &t);
        at++;
    }
    if (st == CK_OK)
        st = find_raw_regions(b, size, &t);
    t.n_raw = merge_spans(t.raw, t.n_raw);
    if (st == CK_OK && t.n_coll)
        st = index_table(&t);
    if (st == CK_OK && t.n_coll)
        st = check_malformed(b, size, &t, label);
    if (st == CK_OK && t.n_coll)
        st = check_references(b, size, &t, label);
    if (st == CK_OK)
        st = check_headers(b, size, &t, label);
    free(t.objs);
    free(t.collections);
    free(t.raw);
    free(t.covered);
    free(t.malformed);
    return st;
}

ck_status ck_h5_screen(const void *buf, size_t size, const char *label)
{
    return screen(buf, size, NULL, 0, label);
}

/* Holes of at least 64 KiB, at most MAX_HOLES of them (the rest of the
 * file is then read as it is): a sparse file of gigabytes is screened in
 * the time of the bytes it really holds. */
#define MIN_HOLE (64u << 10)
#define MAX_HOLES 4096

static size_t find_holes(int fd, size_t size, span *holes)
{
    size_t n = 0;
    for (off_t at = 0; n < MAX_HOLES && (size_t)at < size;) {
        off_t hole = lseek(fd, at, SEEK_HOLE);
        if (hole < 0 || (size_t)hole >= size)
            break;
        off_t data = lseek(fd, hole, SEEK_DATA);
        size_t end = data < 0 || (size_t)data > size ? size : (size_t)data;
        if (end - (size_t)hole >= MIN_HOLE)
            holes[n++] = (span){(uint64_t)hole, end - (uint64_t)hole};
        at = (off_t)end;
    }
    return n;
}

/* Maps the pages the scans will read in one call. Faulted in as the
 * scans reached them, the page-cache pages of a 2.4 MB model cost 0.75 ms
 * per screen on a virtual machine (the scans themselves 0.26 ms), and a
 * whole load took 0.2-0.3 ms longer. Not in a sparse file (its holes
 * would be read) nor past the end the superblock declares; kernels before
 * 5.14 lack the advice, and the pages then come as the scans read them. */
static void map_ahead(const unsigned char *map, size_t size, size_t n_holes)
{
#ifdef MADV_POPULATE_READ
    if (n_holes == 0)
        (void)madvise((void *)map, declared_end(map, size), MADV_POPULATE_READ);
#else
    (void)map, (void)size, (void)n_holes;
#endif
}

ck_status ck_h5_screen_fd(int fd, size_t size, const char *label)
{
    if (size == 0)
        return CK_OK; /* libhdf5 reports an empty file itself */
    span *holes = ck_alloc(MAX_HOLES, sizeof *holes);
    void *map = holes ? mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0) : MAP_FAILED;
    if (map == MAP_FAILED) {
        free(holes);
        return holes ? ck_error(CK_ERR_MEMORY, "cannot map %s to screen it: %s", label,
                                strerror(errno))
                     : CK_ERR_MEMORY;
    }
    size_t n_holes = find_holes(fd, size, holes);
    map_ahead(map, size, n_holes);
    ck_status st = screen(map, size, holes, n_holes, label);
    munmap(map, size);
    free(holes);
    return st;
}

/* Where a dataset's values come from must be this file. External raw
 * storage names other files by path and a virtual dataset maps datasets
 * of other files (or of missing ones, which read as fill values): either
 * would let a hostile file make ckeras read any file the user can read,
 * or fill weights from nowhere. Keras never writes them. */
static ck_status check_storage_is_inside(hid_t plist, const char *what)
{
    if (H5Pget_layout(plist) == H5D_VIRTUAL)
        return ck_error(CK_ERR_FORMAT,
                        "%s is a virtual dataset (its values would come from other "
                        "files); only datasets stored in the file are read",
                        what);
    int external = H5Pget_external_count(plist);
    if (external != 0)
        return ck_error(CK_ERR_FORMAT,
                        "%s keeps its values in %s; only datasets stored in the "
                        "file are read",
                        what, external > 0 ? "external files" : "unreadable storage");
    return CK_OK;
}

/* The bytes the dataset's shape and type need: *bytes. */
static bool shape_bytes(hid_t d, size_t *bytes)
{
    hid_t t = H5Dget_type(d), s = H5Dget_space(d);
    hssize_t n = s >= 0 ? H5Sget_simple_extent_npoints(s) : -1;
    size_t type_size = t >= 0 ? H5Tget_size(t) : 0;
    bool sized = n >= 0 && type_size > 0 && ck_size_mul((size_t)n, type_size, bytes);
    if (t >= 0)
        H5Tclose(t);
    if (s >= 0)
        H5Sclose(s);
    return sized;
}

/* Values the file does not hold read as the fill value: a dataset of a
 * few stored bytes could claim terabytes. The shape may need at most what
 * the stored bytes give at deflate's largest ratio, plus a megabyte of
 * unwritten values (the deflate slack of a small dataset). */
#define UNSTORED_SLACK (1u << 20)

/* Also: libhdf5 1.10 copies a compact dataset's bytes without checking
 * that the file holds as many as the shape needs; a corrupt size crashes
 * H5Dread (found by fuzz_h5_weights; corpus/fuzz_h5_weights_raw). */
static ck_status check_stored_bytes(hid_t d, hid_t plist, const char *what)
{
    size_t bytes = 0;
    hsize_t stored = H5Dget_storage_size(d);
    if (!shape_bytes(d, &bytes) ||
        (H5Pget_layout(plist) == H5D_COMPACT && stored != (hsize_t)bytes))
        return ck_error(CK_ERR_FORMAT, "%s is corrupt (its stored size does not match its shape)",
                        what);
    if (bytes > UNSTORED_SLACK && (bytes - UNSTORED_SLACK) / CK_DEFLATE_MAX_RATIO > stored)
        return ck_error(CK_ERR_FORMAT,
                        "%s claims %zu bytes but the file stores %llu of them (never "
                        "written, or corrupt)",
                        what, bytes, (unsigned long long)stored);
    return CK_OK;
}

/* A filter this libhdf5 lacks (h5py's LZF, Blosc, bitshuffle: plugins
 * outside libhdf5) fails the read like a corrupt file; it is named. */
static ck_status check_filters(hid_t plist, const char *what)
{
    int n = H5Pget_nfilters(plist);
    for (int i = 0; i < n; i++) {
        unsigned flags = 0, config = 0;
        size_t n_values = 0;
        char name[64] = "";
        H5Z_filter_t id = H5Pget_filter2(plist, (unsigned)i, &flags, &n_values, NULL, sizeof name,
                                         name, &config);
        if (id >= 0 && H5Zfilter_avail(id) <= 0)
            return ck_error(CK_ERR_UNSUPPORTED,
                            "%s is compressed with HDF5 filter %d%s%s%s, which this libhdf5 does "
                            "not have (write it uncompressed or with gzip)",
                            what, (int)id, name[0] ? " (" : "", name, name[0] ? ")" : "");
    }
    return CK_OK;
}

ck_status ck_h5_check_dataset(hid_t d, const char *what)
{
    hid_t plist = H5Dget_create_plist(d);
    if (plist < 0)
        return ck_error(CK_ERR_FORMAT, "%s is corrupt (its storage cannot be read)", what);
    ck_status st = check_storage_is_inside(plist, what);
    if (st == CK_OK)
        st = check_filters(plist, what);
    if (st == CK_OK)
        st = check_stored_bytes(d, plist, what);
    H5Pclose(plist);
    return st;
}
