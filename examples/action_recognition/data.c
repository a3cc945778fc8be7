/* Synthetic hand-keypoint sequences and a reader for recorded ones.
 *
 * A frame holds the MediaPipe hand landmarks of both hands, left then
 * right, 21 landmarks x (x, y, z) each; x and y are image coordinates in
 * [0, 1] and z is depth relative to the wrist, as MediaPipe reports them. A
 * missing hand is 63 zeros, which is what the usual tutorials store when
 * MediaPipe finds no hand. */
#include "data.h"

#include <ckeras.h>

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define PI 3.14159265358979323846
#define LANDMARKS 21
#define HAND_VALUES (LANDMARKS * 3)

/* ------------------------------------------------------------ PRNG */
/* splitmix64: tiny, and gives the same stream on every platform. */
typedef struct rng {
    uint64_t s;
} rng;

static uint64_t rng_next(rng *r)
{
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double rng_uniform(rng *r, double lo, double hi)
{
    return lo + (hi - lo) * (double)(rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

static double rng_normal(rng *r, double stddev)
{
    double u = rng_uniform(r, 1e-12, 1.0), v = rng_uniform(r, 0.0, 1.0);
    return stddev * sqrt(-2.0 * log(u)) * cos(2.0 * PI * v);
}

static uint64_t hash_name(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* ------------------------------------------------------------ hand geometry */
/* One finger in hand units: the wrist is the origin, the fingers point to
 * -y (up in the image) when extended. Thumb: CMC, MCP, IP, tip; the other
 * fingers: MCP, PIP, DIP, tip. */
static const struct finger {
    double base_x, base_y, spread, len[3];
} fingers[5] = {
    {-0.12, -0.10, -0.90, {0.16, 0.13, 0.11}}, /* thumb */
    {-0.10, -0.42, -0.15, {0.20, 0.12, 0.10}}, /* index */
    {0.00, -0.45, 0.00, {0.22, 0.13, 0.10}},   /* middle */
    {0.09, -0.42, 0.12, {0.20, 0.12, 0.09}},   /* ring */
    {0.17, -0.36, 0.28, {0.15, 0.09, 0.08}},   /* pinky */
};

/* How one action moves the signing (right) hand over a sequence. */
typedef struct motion {
    double curl[5];           /* 0 extended .. 1 fully bent, thumb first */
    double x, y;              /* wrist position at the start */
    double dx, dy;            /* drift over the whole sequence */
    double wave_x, wave_roll; /* oscillation amplitudes (image units, radians) */
    double cycles;            /* oscillations per sequence */
    double roll;              /* hand rotation in the image plane */
    double grow;              /* relative size change (moving towards the camera) */
} motion;

static const struct {
    const char *name;
    motion m;
} known_actions[] = {
    /* open hand raised beside the head, waving */
    {"hello", {{0.10, 0, 0, 0, 0}, 0.68, 0.30, 0.0, 0.0, 0.06, 0.45, 1.5, 0.15, 0.0}},
    /* flat hand, thumb tucked, from the chin forwards and down */
    {"thanks",
     {{0.60, 0.05, 0.05, 0.05, 0.05}, 0.55, 0.42, -0.04, 0.22, 0.0, 0.0, 0.0, -0.35, 0.35}},
    /* thumb, index and pinky out, middle and ring bent, held still */
    {"iloveyou",
     {{0.0, 0.0, 0.95, 0.95, 0.0}, 0.62, 0.50, 0.0, -0.05, 0.015, 0.10, 2.0, 0.05, 0.10}},
};

/* Any other action name gets its own motion, derived from the name. */
static motion invented_motion(const char *name)
{
    rng r = {hash_name(name)};
    motion m;
    for (int f = 0; f < 5; f++)
        m.curl[f] = 0.475 * (double)(rng_next(&r) % 3);
    m.x = rng_uniform(&r, 0.4, 0.7);
    m.y = rng_uniform(&r, 0.3, 0.6);
    m.dx = rng_uniform(&r, -0.15, 0.15);
    m.dy = rng_uniform(&r, -0.15, 0.15);
    m.wave_x = rng_uniform(&r, 0.0, 0.06);
    m.wave_roll = rng_uniform(&r, 0.0, 0.4);
    m.cycles = rng_uniform(&r, 0.5, 2.0);
    m.roll = rng_uniform(&r, -0.4, 0.4);
    m.grow = rng_uniform(&r, -0.2, 0.3);
    return m;
}

static motion motion_for(const char *name)
{
    for (size_t i = 0; i < sizeof known_actions / sizeof known_actions[0]; i++)
        if (strcmp(known_actions[i].name, name) == 0)
            return known_actions[i].m;
    return invented_motion(name);
}

/* Where a hand is in one frame. */
typedef struct pose {
    double x, y, size, roll;
    double curl[5];
    bool mirrored; /* a left hand */
} pose;

/* Writes the 21 landmarks (x, y, z) of a hand in pose p. */
static void hand_landmarks(const pose *p, float out[HAND_VALUES])
{
    double pts[LANDMARKS][3] = {{0.0, 0.0, 0.0}};
    for (int f = 0; f < 5; f++) {
        const struct finger *fg = &fingers[f];
        double px = fg->base_x, py = fg->base_y, pz = 0.0, bend = 0.0;
        double *pt = pts[1 + 4 * f];
        pt[0] = px, pt[1] = py, pt[2] = pz;
        for (int k = 0; k < 3; k++) {
            bend += 1.2 * p->curl[f];
            px += fg->len[k] * sin(fg->spread) * cos(bend);
            py -= fg->len[k] * cos(fg->spread) * cos(bend);
            pz -= fg->len[k] * sin(bend);
            pt = pts[2 + 4 * f + k];
            pt[0] = px, pt[1] = py, pt[2] = pz;
        }
    }
    double c = cos(p->roll), s = sin(p->roll), side = p->mirrored ? -1.0 : 1.0;
    for (int i = 0; i < LANDMARKS; i++) {
        double hx = side * pts[i][0], hy = pts[i][1];
        out[3 * i] = (float)(p->x + p->size * (hx * c - hy * s));
        out[3 * i + 1] = (float)(p->y + p->size * (hx * s + hy * c));
        out[3 * i + 2] = (float)(p->size * pts[i][2]);
    }
}

/* What a left-handed signer looks like: the mirror image, in which each
 * hand takes the other's slot. Missing hands stay all zeros. */
static void mirror_frame(float *hands)
{
    for (int i = 0; i < HAND_VALUES; i++) {
        float t = hands[i];
        hands[i] = hands[HAND_VALUES + i];
        hands[HAND_VALUES + i] = t;
    }
    for (int h = 0; h < 2; h++) {
        float *v = hands + h * HAND_VALUES;
        bool present = false;
        for (int i = 0; i < HAND_VALUES; i++)
            present = present || v[i] != 0.0f;
        for (int i = 0; present && i < HAND_VALUES; i += 3)
            v[i] = 1.0f - v[i];
    }
}

static void add_noise(float *v, int n, double stddev, rng *r)
{
    for (int i = 0; i < n; i++)
        v[i] += (float)rng_normal(r, stddev);
}

/* One sequence of action m with its own position, size, speed, finger
 * shape, noise, signing hand, and sometimes missing hands. */
static void make_sequence(const motion *m, int frames, int features, float *x, rng *r)
{
    double off_x = rng_uniform(r, -0.08, 0.08), off_y = rng_uniform(r, -0.08, 0.08);
    double size = 0.16 * rng_uniform(r, 0.75, 1.3), speed = rng_uniform(r, 0.6, 1.4);
    double start = rng_uniform(r, 0.0, 0.2), wave_phase = rng_uniform(r, 0.0, 2.0 * PI);
    double roll = m->roll + rng_normal(r, 0.12);
    pose right = {.size = size},
         left = {.mirrored = true, .size = size, .roll = rng_normal(r, 0.2)};
    for (int f = 0; f < 5; f++) {
        right.curl[f] = fmin(1.0, fmax(0.0, m->curl[f] + rng_normal(r, 0.1)));
        left.curl[f] = rng_uniform(r, 0.2, 0.6);
    }
    bool left_visible = rng_uniform(r, 0.0, 1.0) < 0.45;
    bool left_handed = rng_uniform(r, 0.0, 1.0) < 0.15;
    left.x = rng_uniform(r, 0.25, 0.40);
    left.y = rng_uniform(r, 0.75, 0.90);

    for (int t = 0; t < frames; t++) {
        float *frame = x + (size_t)t * (size_t)features;
        float *hands = frame + features - AR_HAND_FEATURES;
        double p = start + speed * (frames > 1 ? (double)t / (frames - 1) : 0.0);
        double wave = sin(2.0 * PI * m->cycles * p + wave_phase);
        right.x = m->x + off_x + m->dx * p + m->wave_x * wave;
        right.y = m->y + off_y + m->dy * p;
        right.roll = roll + m->wave_roll * wave;
        right.size = size * (1.0 + m->grow * p);
        memset(frame, 0, sizeof(float) * (size_t)features);
        if (left_visible) {
            hand_landmarks(&left, hands);
            add_noise(hands, HAND_VALUES, 0.004, r);
        }
        /* MediaPipe loses the signing hand now and then. */
        if (rng_uniform(r, 0.0, 1.0) >= 0.08) {
            hand_landmarks(&right, hands + HAND_VALUES);
            add_noise(hands + HAND_VALUES, HAND_VALUES, 0.004, r);
        }
        if (left_handed)
            mirror_frame(hands);
    }
}

/* ------------------------------------------------------------ datasets */
static int dataset_alloc(ar_dataset *d, int n, int frames, int features, int n_actions)
{
    memset(d, 0, sizeof *d);
    d->frames = frames;
    d->features = features;
    d->n_actions = n_actions;
    d->x = calloc((size_t)n * (size_t)frames * (size_t)features, sizeof(float));
    d->y = calloc((size_t)n * (size_t)n_actions, sizeof(float));
    d->label = calloc((size_t)n, sizeof(int));
    if (!d->x || !d->y || !d->label) {
        fprintf(stderr, "error: out of memory for %d sequences of %d x %d\n", n, frames, features);
        ar_dataset_free(d);
        return -1;
    }
    d->n = n;
    return 0;
}

static size_t seq_size(const ar_dataset *d)
{
    return (size_t)d->frames * (size_t)d->features;
}

static void set_label(ar_dataset *d, int i, int label)
{
    d->label[i] = label;
    memset(d->y + (size_t)i * (size_t)d->n_actions, 0, sizeof(float) * (size_t)d->n_actions);
    d->y[(size_t)i * (size_t)d->n_actions + (size_t)label] = 1.0f;
}

int ar_generate(ar_dataset *d, const char *const *actions, int n_actions, int per_action,
                int frames, int features, uint64_t seed)
{
    if (features < AR_HAND_FEATURES) {
        fprintf(stderr,
                "error: synthetic frames need at least %d features (2 hands x 21 x 3), got %d\n",
                AR_HAND_FEATURES, features);
        return -1;
    }
    if (dataset_alloc(d, n_actions * per_action, frames, features, n_actions) != 0)
        return -1;
    rng r = {seed};
    for (int i = 0; i < d->n; i++) {
        int label = i % n_actions;
        motion m = motion_for(actions[label]);
        make_sequence(&m, frames, features, d->x + (size_t)i * seq_size(d), &r);
        set_label(d, i, label);
    }
    return ar_shuffle(d, seed ^ 0x5EEDull);
}

int ar_shuffle(ar_dataset *d, uint64_t seed)
{
    size_t len = seq_size(d);
    float *tmp = malloc(sizeof(float) * len);
    if (!tmp) {
        fprintf(stderr, "error: out of memory\n");
        return -1;
    }
    rng r = {seed};
    for (int i = d->n - 1; i > 0; i--) {
        int j = (int)(rng_next(&r) % (uint64_t)(i + 1)), li = d->label[i], lj = d->label[j];
        memcpy(tmp, d->x + (size_t)i * len, sizeof(float) * len);
        memcpy(d->x + (size_t)i * len, d->x + (size_t)j * len, sizeof(float) * len);
        memcpy(d->x + (size_t)j * len, tmp, sizeof(float) * len);
        set_label(d, i, lj);
        set_label(d, j, li);
    }
    free(tmp);
    return 0;
}

int ar_split(ar_dataset *d, int n_tail, ar_dataset *tail)
{
    int keep = d->n - n_tail;
    if (n_tail <= 0 || keep <= 0) {
        fprintf(stderr, "error: cannot split %d sequences into %d + %d\n", d->n, keep, n_tail);
        return -1;
    }
    if (dataset_alloc(tail, n_tail, d->frames, d->features, d->n_actions) != 0)
        return -1;
    memcpy(tail->x, d->x + (size_t)keep * seq_size(d),
           sizeof(float) * (size_t)n_tail * seq_size(d));
    for (int i = 0; i < n_tail; i++)
        set_label(tail, i, d->label[keep + i]);
    d->n = keep;
    return 0;
}

void ar_dataset_free(ar_dataset *d)
{
    free(d->x);
    free(d->y);
    free(d->label);
    memset(d, 0, sizeof *d);
}

/* ------------------------------------------------------------ recordings */
int ar_load_dir(ar_dataset *d, const char *dir, const char *const *actions, int n_actions,
                int *frames, int *features)
{
    ck_sequence_data rec;
    if (ck_sequence_dir_read(dir, &rec, .classes = actions, .n_classes = n_actions,
                             .frames = *frames) != CK_OK) {
        fprintf(stderr, "error: %s\n", ck_last_error());
        return -1;
    }
    int rc = -1;
    if (rec.x.rank != 3)
        fprintf(stderr, "error: %s: a frame must be one vector of values\n", dir);
    else if (*features && rec.x.dims[2] != *features)
        fprintf(stderr, "error: %s: frames hold %lld values, expected %d features\n", dir,
                (long long)rec.x.dims[2], *features);
    else
        rc = dataset_alloc(d, (int)rec.x.dims[0], (int)rec.x.dims[1], (int)rec.x.dims[2],
                           n_actions);
    if (rc == 0) {
        memcpy(d->x, rec.x.data, sizeof(float) * (size_t)d->n * seq_size(d));
        for (int i = 0; i < d->n; i++)
            set_label(d, i, rec.ids[i]);
        *frames = d->frames;
        *features = d->features;
    }
    ck_sequence_data_free(&rec);
    return rc;
}

/* mkdir that accepts an existing directory. */
static int make_dir(const char *path)
{
    if (mkdir(path, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "error: cannot create %s: %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

int ar_save_dir(const ar_dataset *d, const char *dir, const char *const *actions)
{
    int next[AR_MAX_ACTIONS] = {0};
    char path[4096];
    if (make_dir(dir) != 0)
        return -1;
    for (int i = 0; i < d->n; i++) {
        int c = d->label[i], seq = next[c]++;
        snprintf(path, sizeof path, "%s/%s", dir, actions[c]);
        if (make_dir(path) != 0)
            return -1;
        snprintf(path, sizeof path, "%s/%s/%d", dir, actions[c], seq);
        if (make_dir(path) != 0)
            return -1;
        for (int f = 0; f < d->frames; f++) {
            float *frame = d->x + ((size_t)i * (size_t)d->frames + (size_t)f) * (size_t)d->features;
            ck_tensor t = {.rank = 1, .dims = {d->features}, .data = frame};
            int n = snprintf(path, sizeof path, "%s/%s/%d/%d.npy", dir, actions[c], seq, f);
            if (n < 0 || (size_t)n >= sizeof path || ck_npy_write(path, &t) != CK_OK) {
                fprintf(stderr, "error: cannot write %s: %s\n", path, ck_last_error());
                return -1;
            }
        }
    }
    return 0;
}
