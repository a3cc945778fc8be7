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
 * Keras and h5py write 8-byte addresses and lengths and a base address of
 * 0, which is what the layout below assumes; vlen data other than strings
 * (never in Keras files) would be refused. */
#include "ck_io.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
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
} heap_object;

typedef struct collection {
    uint64_t addr, size;
    bool malformed;
    size_t malformed_at; /* file offset of the first bad object */
} collection;

/* The raw data of a contiguous dataset: floats, never string references. */
typedef struct raw_region {
    uint64_t addr, size;
} raw_region;

typedef struct heap_table {
    heap_object *objs;
    size_t n, cap;
    collection *collections;
    size_t n_coll, cap_coll;
    raw_region *raw;
    size_t n_raw, cap_raw;
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
                        &(heap_object){at, idx, obj}));
        off += (size_t)step;
    }
    return CK_OK;
}

/* References live in attribute and dataset data, never inside a
 * collection, whose object headers could otherwise look like one. */
static bool inside_collection(const heap_table *t, size_t offset)
{
    for (size_t i = 0; i < t->n_coll; i++)
        if (offset >= t->collections[i].addr &&
            offset - t->collections[i].addr < t->collections[i].size)
            return true;
    return false;
}

static const collection *find_collection(const heap_table *t, uint64_t addr)
{
    for (size_t i = 0; i < t->n_coll; i++)
        if (t->collections[i].addr == addr)
            return &t->collections[i];
    return NULL;
}

/* Whether a reference (length, addr, idx) names an object that exists
 * and fits the buffer libhdf5 sizes by `length`. */
static bool reference_is_sane(const heap_table *t, uint64_t length, uint64_t addr, unsigned idx)
{
    for (size_t i = 0; i < t->n; i++)
        if (t->objs[i].collection == addr && t->objs[i].idx == idx)
            return t->objs[i].size <= length;
    return false;
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
    for (size_t at = 2; at + 16 <= size; at++) {
        if (!is_layout_pointer(b, at))
            continue;
        uint64_t addr = read_le(b + at, 8), len = read_le(b + at + 8, 8);
        if (len > 0 && addr < size && len <= size - addr)
            CK_TRY(push((void **)&t->raw, &t->n_raw, &t->cap_raw, sizeof(raw_region),
                        &(raw_region){addr, len}));
    }
    return CK_OK;
}

static bool inside_raw_data(const heap_table *t, size_t offset)
{
    for (size_t i = 0; i < t->n_raw; i++)
        if (offset >= t->raw[i].addr && offset - t->raw[i].addr < t->raw[i].size)
            return true;
    return false;
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
    bool any = false;
    for (size_t i = 0; i < t->n_coll; i++)
        any = any || t->collections[i].malformed;
    for (size_t at = REF_LEN; any && at + 8 <= size; at++) {
        uint64_t v = read_le(b + at, 8);
        for (size_t i = 0; i < t->n_coll; i++) {
            const collection *c = &t->collections[i];
            if (c->malformed && v == c->addr && (at < c->addr || at - c->addr >= c->size) &&
                read_le(b + at - REF_LEN, REF_LEN) != 0 && !is_layout_pointer(b, at) &&
                !inside_raw_data(t, at - REF_LEN))
                return corrupt(label, c->malformed_at);
        }
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
    for (size_t at = REF_LEN; at + REF_ADDR + 4 <= size; at++) {
        const collection *c = find_collection(t, read_le(b + at, 8));
        if (!c)
            continue;
        uint64_t length = read_le(b + at - REF_LEN, 4);
        if (length && length <= c->size && !inside_collection(t, at - REF_LEN) &&
            !inside_raw_data(t, at - REF_LEN) &&
            !reference_is_sane(t, length, c->addr, (unsigned)read_le(b + at + REF_ADDR, 4)))
            return corrupt(label, at - REF_LEN);
    }
    return CK_OK;
}

ck_status ck_h5_screen(const void *buf, size_t size, const char *label)
{
    const unsigned char *b = buf, *end = b + size;
    heap_table t = {0};
    ck_status st = CK_OK;
    for (const unsigned char *p = b; st == CK_OK && (size_t)(end - p) >= 5;) {
        const unsigned char *hit = memchr(p, 'G', (size_t)(end - p) - 4);
        if (!hit)
            break;
        if (memcmp(hit, "GCOL", 4) == 0 && hit[4] == GCOL_VERSION)
            st = walk_collection(b, size, (size_t)(hit - b), &t);
        p = hit + 1;
    }
    if (st == CK_OK && t.n_coll)
        st = find_raw_regions(b, size, &t);
    if (st == CK_OK && t.n_coll)
        st = check_malformed(b, size, &t, label);
    if (st == CK_OK && t.n_coll)
        st = check_references(b, size, &t, label);
    free(t.objs);
    free(t.collections);
    free(t.raw);
    return st;
}

ck_status ck_h5_screen_file(const char *path)
{
    int fd = open(path, O_RDONLY);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_size <= 0) {
        /* Nothing to screen: HDF5 reports unreadable files itself. */
        if (fd >= 0)
            close(fd);
        return CK_OK;
    }
    size_t size = (size_t)sb.st_size;
    void *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED)
        return CK_OK;
    char label[1024];
    snprintf(label, sizeof label, "'%s'", path);
    ck_status st = ck_h5_screen(map, size, label);
    munmap(map, size);
    return st;
}

/* libhdf5 1.10 copies a compact dataset's bytes without checking that the
 * file holds as many as the shape needs; a corrupt size crashes H5Dread
 * (found by fuzz_h5_weights; corpus/fuzz_h5_weights_raw). */
bool ck_h5_dataset_is_sane(hid_t d)
{
    hid_t plist = H5Dget_create_plist(d), t = H5Dget_type(d), s = H5Dget_space(d);
    bool ok = plist >= 0 && t >= 0 && s >= 0;
    if (ok && H5Pget_layout(plist) == H5D_COMPACT) {
        hssize_t n = H5Sget_simple_extent_npoints(s);
        size_t bytes;
        ok = n >= 0 && ck_size_mul((size_t)n, H5Tget_size(t), &bytes) &&
             H5Dget_storage_size(d) == (hsize_t)bytes;
    }
    if (plist >= 0)
        H5Pclose(plist);
    if (t >= 0)
        H5Tclose(t);
    if (s >= 0)
        H5Sclose(s);
    return ok;
}
