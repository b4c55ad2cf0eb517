/*
 * Optional compiled accelerator of kernel_model.btf: the raw dump (rawdump.py) and the C
 * header (cdump.py) of a BTF held as its blob's words, for a BTF without a base.
 *
 * Not kernel code and not a transcription of libbpf or bpftool: a port of this project's own
 * Python (rawdump._object_lines() and tests/kernel_model/btf/cdump_reference.py, the plain
 * recursive C dumper), so the text is the same byte for byte (tests/kernel_model/btf/
 * test_accel.py compares them). Whenever the Python would raise (an id out of range, a loop,
 * a kind that cannot be printed, too much padding) or recursion gets deep, these functions
 * return None and the caller runs the Python, which reports the error in its own words.
 *
 * Build: setup.py (optional: without a C compiler the package works without it).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define ACCEL_VERSION 3

enum {
    K_UNKN = 0, K_INT = 1, K_PTR = 2, K_ARRAY = 3, K_STRUCT = 4, K_UNION = 5, K_ENUM = 6, K_FWD = 7,
    K_TYPEDEF = 8, K_VOLATILE = 9, K_CONST = 10, K_RESTRICT = 11, K_FUNC = 12, K_FUNC_PROTO = 13,
    K_VAR = 14, K_DATASEC = 15, K_FLOAT = 16, K_DECL_TAG = 17, K_TYPE_TAG = 18, K_ENUM64 = 19,
};

static const char *KIND_NAMES[20] = {
    "UNKNOWN", "INT", "PTR", "ARRAY", "STRUCT", "UNION", "ENUM", "FWD", "TYPEDEF", "VOLATILE",
    "CONST", "RESTRICT", "FUNC", "FUNC_PROTO", "VAR", "DATASEC", "FLOAT", "DECL_TAG", "TYPE_TAG",
    "ENUM64",
};

#define MAX_PADDING_LINES (1 << 20)
#define MAX_DEPTH 2000   /* deeper graphs: the Python (whose limit is higher) decides */

/* ---- growable text ------------------------------------------------------------------------- */

typedef struct {
    char *p;
    size_t n, cap;
    int oom;
} sb_t;

static void sb_grow(sb_t *b, size_t more) {
    if (b->oom)
        return;
    if (b->n + more + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->n + more + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
}

static void sb_add(sb_t *b, const char *s, size_t n) {
    sb_grow(b, n);
    if (b->oom)
        return;
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

static void sb_str(sb_t *b, const char *s) { sb_add(b, s, strlen(s)); }
#define SB_LIT(b, lit) sb_add((b), (lit), sizeof(lit) - 1)

static void sb_u64(sb_t *b, unsigned long long v) {
    char tmp[24];
    char *e = tmp + sizeof tmp, *p = e;
    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    sb_add(b, p, (size_t)(e - p));
}

static void sb_s64(sb_t *b, long long v) {
    if (v < 0) {
        sb_add(b, "-", 1);
        sb_u64(b, 0ULL - (unsigned long long)v);
    } else {
        sb_u64(b, (unsigned long long)v);
    }
}

static void sb_tabs(sb_t *b, int n) {
    for (int i = 0; i < n; i++)
        sb_add(b, "\t", 1);
}

static void sb_prepend(sb_t *b, const char *s, size_t n) {
    sb_grow(b, n);
    if (b->oom)
        return;
    memmove(b->p + n, b->p, b->n + 1);
    memcpy(b->p, s, n);
    b->n += n;
}

static char *sb_take(sb_t *b) {
    if (b->oom) {
        free(b->p);
        return NULL;
    }
    if (!b->p) {
        b->p = malloc(1);
        if (!b->p)
            return NULL;
        b->p[0] = 0;
    }
    char *p = b->p;
    b->p = NULL;
    b->n = b->cap = 0;
    return p;
}

/* ---- the type section ---------------------------------------------------------------------- */

typedef struct {
    const uint32_t *w;
    size_t nw;
    const char *str;
    size_t str_len;
    uint32_t n;        /* own types: ids 1..n */
    uint32_t *offs;    /* word index of each record, by id (offs[0] unused) */
} sec_t;

static int scan(sec_t *s) {
    size_t p = 0, cap = 1024;
    uint32_t n = 0;
    s->offs = malloc(cap * sizeof(uint32_t));
    if (!s->offs)
        return -1;
    s->offs[0] = 0;
    while (p < s->nw) {
        if (p + 3 > s->nw)
            return -1;
        uint32_t info = s->w[p + 1];
        uint32_t k = (info >> 24) & 31, vlen = info & 0xFFFF;
        size_t len;
        switch (k) {
        case K_INT: case K_VAR: case K_DECL_TAG: len = 4; break;
        case K_ARRAY: len = 6; break;
        case K_STRUCT: case K_UNION: case K_DATASEC: case K_ENUM64: len = 3 + 3 * (size_t)vlen; break;
        case K_ENUM: case K_FUNC_PROTO: len = 3 + 2 * (size_t)vlen; break;
        case K_PTR: case K_FWD: case K_TYPEDEF: case K_VOLATILE: case K_CONST: case K_RESTRICT:
        case K_FUNC: case K_FLOAT: case K_TYPE_TAG: len = 3; break;
        default: return -1;
        }
        if (p + len > s->nw)
            return -1;
        if (++n + 1 > cap) {
            cap *= 2;
            uint32_t *o = realloc(s->offs, cap * sizeof(uint32_t));
            if (!o)
                return -1;
            s->offs = o;
        }
        s->offs[n] = (uint32_t)p;
        p += len;
    }
    s->n = n;
    return 0;
}

static inline uint32_t KIND(const sec_t *s, uint32_t id) {
    return id == 0 ? K_UNKN : (s->w[s->offs[id] + 1] >> 24) & 31;
}
static inline uint32_t VLEN(const sec_t *s, uint32_t id) { return s->w[s->offs[id] + 1] & 0xFFFF; }
static inline uint32_t KFLAG(const sec_t *s, uint32_t id) { return s->w[s->offs[id] + 1] >> 31; }
static inline uint32_t SIZE_OR_TYPE(const sec_t *s, uint32_t id) { return s->w[s->offs[id] + 2]; }
static inline const uint32_t *ITEMS(const sec_t *s, uint32_t id) { return s->w + s->offs[id] + 3; }

/* The NUL-terminated name at a string offset; NULL when the offset is outside the table. */
static inline const char *STR(const sec_t *s, uint32_t off) {
    if (off >= s->str_len)
        return NULL;
    return s->str + off;
}

/* ---- raw dump (rawdump._object_lines()) ---------------------------------------------------- */

static int raw_name(sb_t *b, const sec_t *s, uint32_t off) {
    const char *nm = STR(s, off);
    if (!nm)
        return -1;
    sb_str(b, *nm ? nm : "(anon)");
    return 0;
}

static int raw_dump(const sec_t *s, sb_t *b) {
    static const char *int_enc[] = {"(none)", "SIGNED", "CHAR", "UNKN", "BOOL"};
    static const char *func_link[] = {"static", "global", "extern"};
    static const char *var_link[] = {"static", "global", "extern"};
    for (uint32_t id = 1; id <= s->n; id++) {
        const uint32_t *r = s->w + s->offs[id];
        uint32_t k = (r[1] >> 24) & 31, vlen = r[1] & 0xFFFF, kflag = r[1] >> 31;
        sb_add(b, "[", 1);
        sb_u64(b, id);
        sb_add(b, "] ", 2);
        sb_str(b, KIND_NAMES[k]);
        sb_add(b, " '", 2);
        if (raw_name(b, s, r[0]))
            return -1;
        sb_add(b, "'", 1);
        switch (k) {
        case K_FUNC:
            SB_LIT(b, " type_id=");
            sb_u64(b, r[2]);
            SB_LIT(b, " linkage=");
            sb_str(b, vlen < 3 ? func_link[vlen] : "(unknown)");
            break;
        case K_FUNC_PROTO:
            SB_LIT(b, " ret_type_id=");
            sb_u64(b, r[2]);
            SB_LIT(b, " vlen=");
            sb_u64(b, vlen);
            for (uint32_t i = 0; i < vlen; i++) {
                SB_LIT(b, "\n\t'");
                if (raw_name(b, s, r[3 + 2 * i]))
                    return -1;
                SB_LIT(b, "' type_id=");
                sb_u64(b, r[4 + 2 * i]);
            }
            break;
        case K_PTR: case K_CONST: case K_VOLATILE: case K_RESTRICT: case K_TYPEDEF: case K_TYPE_TAG:
            SB_LIT(b, " type_id=");
            sb_u64(b, r[2]);
            break;
        case K_STRUCT: case K_UNION:
            SB_LIT(b, " size=");
            sb_u64(b, r[2]);
            SB_LIT(b, " vlen=");
            sb_u64(b, vlen);
            for (uint32_t i = 0; i < vlen; i++) {
                const uint32_t *m = r + 3 + 3 * i;
                uint32_t off = kflag ? (m[2] & 0xFFFFFF) : m[2], bsz = kflag ? m[2] >> 24 : 0;
                SB_LIT(b, "\n\t'");
                if (raw_name(b, s, m[0]))
                    return -1;
                SB_LIT(b, "' type_id=");
                sb_u64(b, m[1]);
                SB_LIT(b, " bits_offset=");
                sb_u64(b, off);
                if (bsz) {
                    SB_LIT(b, " bitfield_size=");
                    sb_u64(b, bsz);
                }
            }
            break;
        case K_ARRAY:
            SB_LIT(b, " type_id=");
            sb_u64(b, r[3]);
            SB_LIT(b, " index_type_id=");
            sb_u64(b, r[4]);
            SB_LIT(b, " nr_elems=");
            sb_u64(b, r[5]);
            break;
        case K_ENUM: case K_ENUM64:
            sb_str(b, kflag ? " encoding=SIGNED size=" : " encoding=UNSIGNED size=");
            sb_u64(b, r[2]);
            SB_LIT(b, " vlen=");
            sb_u64(b, vlen);
            for (uint32_t i = 0; i < vlen; i++) {
                const uint32_t *v = k == K_ENUM ? r + 3 + 2 * i : r + 3 + 3 * i;
                SB_LIT(b, "\n\t'");
                if (raw_name(b, s, v[0]))
                    return -1;
                SB_LIT(b, "' val=");
                if (k == K_ENUM) {
                    if (kflag)
                        sb_s64(b, (int32_t)v[1]);
                    else
                        sb_u64(b, v[1]);
                } else {
                    uint64_t u = ((uint64_t)v[2] << 32) | v[1];
                    if (kflag) {
                        sb_s64(b, (long long)(int64_t)u);
                        SB_LIT(b, "LL");
                    } else {
                        sb_u64(b, u);
                        SB_LIT(b, "ULL");
                    }
                }
            }
            break;
        case K_INT: {
            uint32_t d = r[3], enc = (d >> 24) & 0x0F;
            SB_LIT(b, " size=");
            sb_u64(b, r[2]);
            SB_LIT(b, " bits_offset=");
            sb_u64(b, (d >> 16) & 0xFF);
            SB_LIT(b, " nr_bits=");
            sb_u64(b, d & 0xFF);
            SB_LIT(b, " encoding=");
            sb_str(b, (enc <= 2 || enc == 4) ? int_enc[enc] : "UNKN");
            break;
        }
        case K_FWD:
            sb_str(b, kflag ? " fwd_kind=union" : " fwd_kind=struct");
            break;
        case K_VAR:
            SB_LIT(b, " type_id=");
            sb_u64(b, r[2]);
            SB_LIT(b, ", linkage=");
            sb_str(b, r[3] < 3 ? var_link[r[3]] : "(unknown)");
            break;
        case K_DATASEC:
            SB_LIT(b, " size=");
            sb_u64(b, r[2]);
            SB_LIT(b, " vlen=");
            sb_u64(b, vlen);
            for (uint32_t i = 0; i < vlen; i++) {
                const uint32_t *v = r + 3 + 3 * i;
                SB_LIT(b, "\n\ttype_id=");
                sb_u64(b, v[0]);
                SB_LIT(b, " offset=");
                sb_u64(b, v[1]);
                SB_LIT(b, " size=");
                sb_u64(b, v[2]);
                if (v[0] <= s->n) {
                    uint32_t vk = KIND(s, v[0]);
                    SB_LIT(b, " (");
                    sb_str(b, KIND_NAMES[vk]);
                    SB_LIT(b, " '");
                    if (v[0] == 0)
                        SB_LIT(b, "(anon)");
                    else if (raw_name(b, s, s->w[s->offs[v[0]]]))
                        return -1;
                    SB_LIT(b, "')");
                }
            }
            break;
        case K_FLOAT:
            SB_LIT(b, " size=");
            sb_u64(b, r[2]);
            break;
        case K_DECL_TAG:
            SB_LIT(b, " type_id=");
            sb_u64(b, r[2]);
            SB_LIT(b, " component_idx=");
            sb_s64(b, (int32_t)r[3]);
            break;
        default:
            return -1;
        }
        sb_add(b, "\n", 1);
        if (b->oom)
            return -1;
    }
    return 0;
}

/* ---- string maps for the C dumper ---------------------------------------------------------- */

typedef struct {
    char *key;     /* owned copy */
    size_t len;
    long val;
} ent_t;

typedef struct {
    ent_t *e;
    size_t cap, used;
} map_t;

static uint64_t hash_bytes(const char *p, size_t n) {
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static ent_t *map_find(map_t *m, const char *k, size_t n, int create) {
    if (create && (m->used + 1) * 2 > m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 1024;
        ent_t *e = calloc(cap, sizeof(ent_t));
        if (!e)
            return NULL;
        for (size_t i = 0; i < m->cap; i++) {
            if (!m->e[i].key)
                continue;
            size_t j = hash_bytes(m->e[i].key, m->e[i].len) & (cap - 1);
            while (e[j].key)
                j = (j + 1) & (cap - 1);
            e[j] = m->e[i];
        }
        free(m->e);
        m->e = e;
        m->cap = cap;
    }
    if (!m->cap)
        return NULL;
    size_t j = hash_bytes(k, n) & (m->cap - 1);
    while (m->e[j].key) {
        if (m->e[j].len == n && memcmp(m->e[j].key, k, n) == 0)
            return &m->e[j];
        j = (j + 1) & (m->cap - 1);
    }
    if (!create)
        return NULL;
    char *key = malloc(n + 1);
    if (!key)
        return NULL;
    memcpy(key, k, n);
    key[n] = 0;
    m->e[j].key = key;
    m->e[j].len = n;
    m->e[j].val = 0;
    m->used++;
    return &m->e[j];
}

static void map_free(map_t *m) {
    for (size_t i = 0; i < m->cap; i++)
        free(m->e[i].key);
    free(m->e);
}

/* ---- the C dumper (tests/kernel_model/btf/cdump_reference.py) ------------------------------ */

typedef struct {
    const sec_t *s;
    int param_names, functions;
    int fail;                 /* set: give up, the Python decides */
    int depth;
    /* output: chunks, with insertion at top_start */
    char **out;
    size_t nout, capout;
    long top_start;
    uint8_t *state;           /* composite: 1 fwd-declared, 2 in progress, 3 defined, 4 fwd inserted */
    uint8_t *done;
    char **tag_names;         /* by id */
    char ***enum_vals;        /* by id: enumerator names */
    map_t tag_used, ident_count, ident_used, comp_index;
    uint8_t *referenced;
    int64_t *sizes;           /* -2 unknown */
    int32_t *align_val;       /* -2 unknown, -1 none */
    int32_t *align_h;
    long padding_left;
} dumper_t;

#define FAIL(d) do { (d)->fail = 1; } while (0)

static const char *NAME(dumper_t *d, uint32_t id) {
    if (id == 0)
        return "";
    const char *nm = STR(d->s, d->s->w[d->s->offs[id]]);
    if (!nm) {
        FAIL(d);
        return "";
    }
    return nm;
}

static int valid_id(dumper_t *d, uint32_t id) {
    if (id > d->s->n) {
        FAIL(d);
        return 0;
    }
    return 1;
}

static void out_push(dumper_t *d, char *text) {
    if (!text) {
        FAIL(d);
        return;
    }
    if (d->nout == d->capout) {
        size_t cap = d->capout ? d->capout * 2 : 4096;
        char **o = realloc(d->out, cap * sizeof(char *));
        if (!o) {
            free(text);
            FAIL(d);
            return;
        }
        d->out = o;
        d->capout = cap;
    }
    d->out[d->nout++] = text;
}

static void out_insert(dumper_t *d, size_t at, char *text) {
    out_push(d, text);
    if (d->fail)
        return;
    memmove(d->out + at + 1, d->out + at, (d->nout - 1 - at) * sizeof(char *));
    d->out[at] = text;
}

static char *xstrdup(const char *s) {
    size_t n = strlen(s);
    char *p = malloc(n + 1);
    if (p)
        memcpy(p, s, n + 1);
    return p;
}

/* name, or name___N for the N-th user of it (CDumper._dedup) */
static char *dedup(dumper_t *d, const char *name, map_t *count) {
    size_t n = strlen(name);
    ent_t *e = map_find(count, name, n, 1);
    if (!e) {
        FAIL(d);
        return NULL;
    }
    e->val += 1;
    if (e->val == 1)
        return xstrdup(name);
    sb_t b = {0};
    sb_add(&b, name, n);
    SB_LIT(&b, "___");
    sb_u64(&b, (unsigned long long)e->val);
    return sb_take(&b);
}

static long find_composite(dumper_t *d, const char *name, uint32_t kind) {
    if (!*name)
        return 0;
    sb_t b = {0};
    char kc = (char)kind;
    sb_add(&b, &kc, 1);
    sb_str(&b, name);
    ent_t *e = b.oom ? NULL : map_find(&d->comp_index, b.p, b.n, 0);
    free(b.p);
    return e ? e->val : 0;
}

static const char *tag_name(dumper_t *d, uint32_t id) {
    if (d->tag_names[id])
        return d->tag_names[id];
    const char *name = NAME(d, id);
    char *nm;
    if (KIND(d->s, id) == K_FWD) {
        long found = find_composite(d, name, KFLAG(d->s, id) ? K_UNION : K_STRUCT);
        if (found) {
            const char *t = tag_name(d, (uint32_t)found);
            nm = xstrdup(t);
        } else {
            ent_t *e = map_find(&d->tag_used, name, strlen(name), 0);
            nm = (e == NULL) ? xstrdup(name) : dedup(d, name, &d->tag_used);
            e = map_find(&d->tag_used, name, strlen(name), 1);
            if (!e) {
                FAIL(d);
            } else if (e->val == 0) {
                e->val = 1;
            }
        }
    } else {
        nm = dedup(d, name, &d->tag_used);
    }
    if (!nm) {
        FAIL(d);
        return "";
    }
    d->tag_names[id] = nm;
    return nm;
}

static const char *ident_name(dumper_t *d, uint32_t id) {
    if (d->tag_names[id])
        return d->tag_names[id];
    char *nm = dedup(d, NAME(d, id), &d->ident_count);
    if (!nm) {
        FAIL(d);
        return "";
    }
    if (!map_find(&d->ident_used, nm, strlen(nm), 1))
        FAIL(d);
    d->tag_names[id] = nm;
    return nm;
}

static char **enumerator_names(dumper_t *d, uint32_t id) {
    if (d->enum_vals[id])
        return d->enum_vals[id];
    uint32_t v = VLEN(d->s, id), stride = KIND(d->s, id) == K_ENUM ? 2 : 3;
    char **names = calloc(v + 1, sizeof(char *));
    if (!names) {
        FAIL(d);
        return NULL;
    }
    for (uint32_t i = 0; i < v; i++) {
        const char *vn = STR(d->s, ITEMS(d->s, id)[stride * i]);
        if (!vn) {
            FAIL(d);
            vn = "";
        }
        names[i] = dedup(d, vn, &d->ident_count);
        if (!names[i] || !map_find(&d->ident_used, names[i], strlen(names[i]), 1))
            FAIL(d);
    }
    d->enum_vals[id] = names;
    return names;
}

static int is_modifier(uint32_t k) {
    return k == K_TYPEDEF || k == K_VOLATILE || k == K_CONST || k == K_RESTRICT || k == K_TYPE_TAG;
}
static int is_qual(uint32_t k) { return k == K_CONST || k == K_VOLATILE || k == K_RESTRICT; }

static void need_complete(dumper_t *d, uint32_t id);
static void need_decl(dumper_t *d, uint32_t id);
static void emit_typedef(dumper_t *d, uint32_t id);
static void emit_enum(dumper_t *d, uint32_t id);
static void emit_composite(dumper_t *d, uint32_t id);
static char *decl(dumper_t *d, uint32_t id, const char *inner, int indent);
static char *composite_body(dumper_t *d, uint32_t id, int indent);
static char *enum_body(dumper_t *d, uint32_t id, int indent);

static int enter(dumper_t *d) {
    if (d->fail)
        return 0;
    if (++d->depth > MAX_DEPTH) {
        FAIL(d);
        d->depth--;
        return 0;
    }
    return 1;
}
#define LEAVE(d) ((d)->depth--)

static const char *kw(const sec_t *s, uint32_t id) { return KIND(s, id) == K_UNION ? "union" : "struct"; }

static char *decl_line(const char *kwd, const char *name) {
    sb_t b = {0};
    sb_str(&b, kwd);
    sb_add(&b, " ", 1);
    sb_str(&b, name);
    SB_LIT(&b, ";\n\n");
    return sb_take(&b);
}

static void need_complete(dumper_t *d, uint32_t id) {
    if (id == 0 || !valid_id(d, id) || !enter(d))
        return;
    const sec_t *s = d->s;
    uint32_t k = KIND(s, id);
    if (is_modifier(k) && k != K_TYPEDEF) {
        need_complete(d, SIZE_OR_TYPE(s, id));
    } else if (k == K_TYPEDEF) {
        emit_typedef(d, id);
        need_complete(d, SIZE_OR_TYPE(s, id));
    } else if (k == K_ARRAY) {
        need_complete(d, ITEMS(s, id)[0]);
    } else if (k == K_STRUCT || k == K_UNION) {
        if (*NAME(d, id)) {
            emit_composite(d, id);
        } else {
            uint32_t v = VLEN(s, id);
            for (uint32_t i = 0; i < v && !d->fail; i++)
                need_complete(d, ITEMS(s, id)[3 * i + 1]);
        }
    } else if (k == K_ENUM || k == K_ENUM64) {
        if (*NAME(d, id))
            emit_enum(d, id);
    } else {
        need_decl(d, id);
    }
    LEAVE(d);
}

static void need_decl(dumper_t *d, uint32_t id) {
    if (id == 0 || !valid_id(d, id) || !enter(d))
        return;
    const sec_t *s = d->s;
    uint32_t k = KIND(s, id);
    if (is_modifier(k) && k != K_TYPEDEF) {
        need_decl(d, SIZE_OR_TYPE(s, id));
    } else if (k == K_TYPEDEF) {
        emit_typedef(d, id);
    } else if (k == K_PTR) {
        need_decl(d, SIZE_OR_TYPE(s, id));
    } else if (k == K_ARRAY) {
        need_complete(d, ITEMS(s, id)[0]);
    } else if (k == K_FUNC_PROTO) {
        need_decl(d, SIZE_OR_TYPE(s, id));
        uint32_t v = VLEN(s, id);
        for (uint32_t i = 0; i < v && !d->fail; i++)
            need_decl(d, ITEMS(s, id)[2 * i + 1]);
    } else if (k == K_STRUCT || k == K_UNION) {
        if (!*NAME(d, id)) {
            need_complete(d, id);
        } else {
            uint8_t st = d->state[id];
            if (st == 0) {
                out_push(d, decl_line(kw(s, id), tag_name(d, id)));
                d->state[id] = 1;
            } else if (st == 2) {
                out_insert(d, (size_t)d->top_start, decl_line(kw(s, id), tag_name(d, id)));
                d->state[id] = 4;
            }
        }
    } else if (k == K_FWD) {
        if (!d->done[id]) {
            d->done[id] = 1;
            out_push(d, decl_line(KFLAG(s, id) ? "union" : "struct", tag_name(d, id)));
        }
    } else if (k == K_ENUM || k == K_ENUM64) {
        if (*NAME(d, id))
            emit_enum(d, id);
    }
    LEAVE(d);
}

static void emit_typedef(dumper_t *d, uint32_t id) {
    if (d->done[id] || d->fail)
        return;
    d->done[id] = 1;
    const char *name = NAME(d, id);
    if (strcmp(name, "__builtin_va_list") == 0) {  /* the compiler's own; libbpf never redefines it */
        free(d->tag_names[id]);
        d->tag_names[id] = xstrdup(name);
        if (!d->tag_names[id])
            FAIL(d);
        return;
    }
    int top = d->top_start < 0;
    if (top)
        d->top_start = (long)d->nout;
    uint32_t t = SIZE_OR_TYPE(d->s, id);
    need_decl(d, t);
    const char *nm = ident_name(d, id);
    char *text = decl(d, t, nm, 0);
    if (text) {
        sb_t b = {0};
        SB_LIT(&b, "typedef ");
        sb_str(&b, text);
        SB_LIT(&b, ";\n\n");
        free(text);
        out_push(d, sb_take(&b));
    } else {
        FAIL(d);
    }
    if (top)
        d->top_start = -1;
}

static void emit_enum(dumper_t *d, uint32_t id) {
    if (d->done[id] || d->fail)
        return;
    d->done[id] = 1;
    char *body = enum_body(d, id, 0);
    if (!body) {
        FAIL(d);
        return;
    }
    sb_t b = {0};
    sb_str(&b, body);
    SB_LIT(&b, ";\n\n");
    free(body);
    out_push(d, sb_take(&b));
}

static void emit_composite(dumper_t *d, uint32_t id) {
    if (d->state[id] >= 2 || d->fail)
        return;
    int top = d->top_start < 0;
    if (top)
        d->top_start = (long)d->nout;
    d->state[id] = 2;
    uint32_t v = VLEN(d->s, id);
    for (uint32_t i = 0; i < v && !d->fail; i++)
        need_complete(d, ITEMS(d->s, id)[3 * i + 1]);
    char *body = composite_body(d, id, 0);
    if (!body) {
        FAIL(d);
        return;
    }
    sb_t b = {0};
    sb_str(&b, body);
    SB_LIT(&b, ";\n\n");
    free(body);
    out_push(d, sb_take(&b));
    d->state[id] = 3;
    if (top)
        d->top_start = -1;
}

static uint32_t skip_quals_kind(dumper_t *d, uint32_t id) {
    int n = 0;
    while (id) {
        if (!valid_id(d, id))
            return 0;
        uint32_t k = KIND(d->s, id);
        if (is_qual(k) || k == K_TYPE_TAG) {
            id = SIZE_OR_TYPE(d->s, id);
            if (++n > 64) {
                FAIL(d);
                return 0;
            }
            continue;
        }
        return k;
    }
    return 0;
}

static char *spec(dumper_t *d, uint32_t id, int indent) {
    if (id == 0)
        return xstrdup("void");
    if (!valid_id(d, id))
        return NULL;
    uint32_t k = KIND(d->s, id);
    const char *name = NAME(d, id);
    sb_t b = {0};
    switch (k) {
    case K_INT: case K_FLOAT:
        return xstrdup(name);
    case K_TYPEDEF:
        return xstrdup(ident_name(d, id));
    case K_STRUCT: case K_UNION:
        if (*name) {
            sb_str(&b, kw(d->s, id));
            sb_add(&b, " ", 1);
            sb_str(&b, tag_name(d, id));
            return sb_take(&b);
        }
        return composite_body(d, id, indent);
    case K_ENUM: case K_ENUM64:
        if (*name) {
            SB_LIT(&b, "enum ");
            sb_str(&b, tag_name(d, id));
            return sb_take(&b);
        }
        return enum_body(d, id, indent);
    case K_FWD:
        sb_str(&b, KFLAG(d->s, id) ? "union " : "struct ");
        sb_str(&b, tag_name(d, id));
        return sb_take(&b);
    default:
        FAIL(d);
        return NULL;
    }
}

static char *decl(dumper_t *d, uint32_t id, const char *inner0, int indent) {
    if (!enter(d))
        return NULL;
    const sec_t *s = d->s;
    sb_t inner = {0};
    sb_str(&inner, inner0);
    char *result = NULL;
    for (;;) {
        if (d->fail || inner.oom)
            break;
        uint32_t k = 0;
        if (id) {
            if (!valid_id(d, id))
                break;
            k = KIND(s, id);
        }
        if (k == K_PTR) {
            uint32_t tgt = SIZE_OR_TYPE(s, id);
            sb_prepend(&inner, "*", 1);
            uint32_t tk = skip_quals_kind(d, tgt);
            if (tk == K_ARRAY || tk == K_FUNC_PROTO) {
                sb_prepend(&inner, "(", 1);
                sb_add(&inner, ")", 1);
            }
            id = tgt;
        } else if (is_qual(k)) {
            const char *q = k == K_CONST ? "const" : k == K_VOLATILE ? "volatile" : "restrict";
            uint32_t tgt = SIZE_OR_TYPE(s, id);
            if (skip_quals_kind(d, tgt) == K_PTR) {
                if (inner.n) {
                    sb_prepend(&inner, " ", 1);
                    sb_prepend(&inner, q, strlen(q));
                    sb_prepend(&inner, " ", 1);
                } else {
                    sb_add(&inner, " ", 1);
                    sb_str(&inner, q);
                }
                id = tgt;
            } else {
                char *rest = decl(d, tgt, inner.p ? inner.p : "", indent);
                if (!rest)
                    break;
                size_t ql = strlen(q);
                if (strncmp(rest, q, ql) == 0 && rest[ql] == ' ') {
                    result = rest;
                } else {
                    sb_t b = {0};
                    sb_str(&b, q);
                    sb_add(&b, " ", 1);
                    sb_str(&b, rest);
                    free(rest);
                    result = sb_take(&b);
                }
                break;
            }
        } else if (k == K_TYPE_TAG) {
            id = SIZE_OR_TYPE(s, id);
        } else if (k == K_ARRAY) {
            sb_add(&inner, "[", 1);
            sb_u64(&inner, ITEMS(s, id)[2]);
            sb_add(&inner, "]", 1);
            id = ITEMS(s, id)[0];
        } else if (k == K_FUNC_PROTO) {
            uint32_t v = VLEN(s, id);
            sb_t ps = {0};
            int nps = 0;
            for (uint32_t i = 0; i < v && !d->fail; i++) {
                uint32_t pn = ITEMS(s, id)[2 * i], pt = ITEMS(s, id)[2 * i + 1];
                if (nps++)
                    SB_LIT(&ps, ", ");
                if (pt == 0) {
                    SB_LIT(&ps, "...");
                    continue;
                }
                const char *pname = STR(s, pn);
                if (!pname) {
                    FAIL(d);
                    break;
                }
                if (!(d->param_names && *pname && !map_find(&d->ident_used, pname, strlen(pname), 0)))
                    pname = "";
                char *pd = decl(d, pt, pname, indent);
                if (!pd)
                    break;
                sb_str(&ps, pd);
                free(pd);
            }
            if (d->fail) {
                free(ps.p);
                break;
            }
            sb_add(&inner, "(", 1);
            if (nps)
                sb_add(&inner, ps.p, ps.n);
            else
                SB_LIT(&inner, "void");
            sb_add(&inner, ")", 1);
            free(ps.p);
            id = SIZE_OR_TYPE(s, id);
        } else {
            char *sp = spec(d, id, indent);
            if (!sp)
                break;
            if (!inner.n) {
                result = sp;
            } else {
                sb_t b = {0};
                sb_str(&b, sp);
                sb_add(&b, " ", 1);
                sb_add(&b, inner.p, inner.n);
                free(sp);
                result = sb_take(&b);
            }
            break;
        }
    }
    free(inner.p);
    LEAVE(d);
    if (d->fail) {
        free(result);
        return NULL;
    }
    return result;
}

static char *enum_body(dumper_t *d, uint32_t id, int indent) {
    const sec_t *s = d->s;
    sb_t b = {0};
    if (*NAME(d, id)) {
        SB_LIT(&b, "enum ");
        sb_str(&b, tag_name(d, id));
    } else {
        SB_LIT(&b, "enum");
    }
    char **names = enumerator_names(d, id);
    if (!names || d->fail) {
        free(b.p);
        return NULL;
    }
    uint32_t k = KIND(s, id), v = VLEN(s, id), kflag = KFLAG(s, id);
    SB_LIT(&b, " {\n");
    for (uint32_t i = 0; i < v; i++) {
        sb_tabs(&b, indent + 1);
        sb_str(&b, names[i]);
        SB_LIT(&b, " = ");
        if (k == K_ENUM) {
            uint32_t val = ITEMS(s, id)[2 * i + 1];
            if (kflag)
                sb_s64(&b, (int32_t)val);
            else
                sb_u64(&b, val);
        } else {
            const uint32_t *e = ITEMS(s, id) + 3 * i;
            uint64_t u = ((uint64_t)e[2] << 32) | e[1];
            if (kflag) {
                sb_s64(&b, (long long)(int64_t)u);
                SB_LIT(&b, "LL");
            } else {
                sb_u64(&b, u);
                SB_LIT(&b, "ULL");
            }
        }
        SB_LIT(&b, ",\n");
    }
    sb_tabs(&b, indent);
    SB_LIT(&b, "}");
    if (SIZE_OR_TYPE(s, id) < 4)
        SB_LIT(&b, " __attribute__((packed))");
    return sb_take(&b);
}

/* BTF.size_of(): -1 where it raises (CDumper._size() prints 0 then) */
static int64_t size_of(dumper_t *d, uint32_t id) {
    if (id <= d->s->n && d->sizes[id] != -2)
        return d->sizes[id];
    const sec_t *s = d->s;
    uint32_t start = id;
    /* Python ints do not overflow: give up (the Python decides) past 2^62 */
    int64_t mult = 1, result = -1;
    uint64_t steps = 0;
    for (;;) {
        if (id > s->n) {
            result = -1;  /* "type id out of range": BTFError */
            break;
        }
        uint32_t k = KIND(s, id);
        if (k == K_UNKN) {
            result = -1;
            break;
        }
        if (is_modifier(k) || k == K_VAR) {
            id = SIZE_OR_TYPE(s, id);
        } else if (k == K_ARRAY) {
            uint64_t ne = ITEMS(s, id)[2];
            if (ne && (uint64_t)mult > ((uint64_t)1 << 62) / ne) {
                FAIL(d);
                return -1;
            }
            mult *= (int64_t)ne;
            id = ITEMS(s, id)[0];
        } else if (k == K_PTR) {
            result = mult * 8;
            break;
        } else if (k == K_INT || k == K_STRUCT || k == K_UNION || k == K_ENUM || k == K_ENUM64 ||
                   k == K_FLOAT || k == K_DATASEC) {
            uint64_t sz = SIZE_OR_TYPE(s, id);
            if (sz && (uint64_t)mult > ((uint64_t)1 << 62) / sz) {
                FAIL(d);
                return -1;
            }
            result = mult * (int64_t)sz;
            break;
        } else {
            result = -1;
            break;
        }
        if (++steps > (uint64_t)s->n + 1) {
            result = -1;
            break;
        }
    }
    if (start <= s->n)
        d->sizes[start] = result;
    return result;
}

static int64_t csize(dumper_t *d, uint32_t id) {
    int64_t v = size_of(d, id);
    return v < 0 ? 0 : v;
}

/* BTF.skip_modifiers(); 0 with fail unset means "raises" */
static int resolve(dumper_t *d, uint32_t id, uint32_t *out) {
    uint64_t seen = 0;
    const sec_t *s = d->s;
    for (;;) {
        if (id > s->n)
            return -1;
        uint32_t k = KIND(s, id);
        if (!is_modifier(k))
            break;
        id = SIZE_OR_TYPE(s, id);
        if (++seen > (uint64_t)s->n + 1)
            return -1;
    }
    *out = id;
    return 0;
}

/* BTF._align() with a memo of (value or -1, height) per id: see cdump.CDumper._align_at() */
static void align_entry(dumper_t *d, uint32_t id, int32_t *val, int32_t *h);

static void align_compute(dumper_t *d, uint32_t id, int32_t *val, int32_t *height) {
    const sec_t *s = d->s;
    d->align_val[id] = -1;
    d->align_h[id] = 1 << 30;
    uint32_t r;
    if (resolve(d, id, &r) || r == 0) {
        *val = -1;
        *height = 0;
        return;
    }
    uint32_t k = KIND(s, r);
    if (k == K_PTR) {
        *val = 8;
        *height = 0;
    } else if (k == K_INT || k == K_ENUM || k == K_ENUM64 || k == K_FLOAT) {
        uint32_t sz = SIZE_OR_TYPE(s, r);
        uint32_t cap = (k == K_FLOAT || sz == 16) ? 16 : 8;
        uint32_t a = sz < cap ? sz : cap;
        *val = a < 1 ? 1 : (int32_t)a;
        *height = 0;
    } else if (k == K_ARRAY) {
        int32_t v, h;
        if (!enter(d)) {
            *val = -1;
            *height = 0;
            return;
        }
        align_entry(d, ITEMS(s, r)[0], &v, &h);
        LEAVE(d);
        *val = v;
        *height = h >= (1 << 29) ? h : h + 1;
    } else if (k == K_STRUCT || k == K_UNION) {
        int32_t a = 1, hmax = 0;
        uint32_t v = VLEN(s, r), kflag = KFLAG(s, r);
        if (!enter(d)) {
            *val = -1;
            *height = 0;
            return;
        }
        for (uint32_t i = 0; i < v; i++) {
            const uint32_t *m = ITEMS(s, r) + 3 * i;
            int32_t ma, h;
            align_entry(d, m[1], &ma, &h);
            int32_t h1 = h >= (1 << 29) ? h : h + 1;
            if (h1 > hmax)
                hmax = h1;
            if (ma < 0) {
                *val = -1;
                *height = hmax;
                LEAVE(d);
                return;
            }
            uint32_t bits = kflag ? (m[2] & 0xFFFFFF) : m[2], bsz = kflag ? m[2] >> 24 : 0;
            if (bsz == 0 && bits % (8 * (uint32_t)ma)) {
                *val = 1;
                *height = hmax;
                LEAVE(d);
                return;
            }
            if (ma > a)
                a = ma;
        }
        LEAVE(d);
        *val = SIZE_OR_TYPE(s, r) % (uint32_t)a ? 1 : a;
        *height = hmax;
    } else {
        *val = -1;
        *height = 0;
    }
}

static void align_entry(dumper_t *d, uint32_t id, int32_t *val, int32_t *h) {
    if (id > d->s->n || id == 0) {
        *val = -1;
        *h = 0;
        return;
    }
    if (d->align_val[id] == -2) {
        int32_t v, hh;
        align_compute(d, id, &v, &hh);
        d->align_val[id] = v;
        d->align_h[id] = hh;
    }
    *val = d->align_val[id];
    *h = d->align_h[id];
}

static uint32_t calign(dumper_t *d, uint32_t id) {
    int32_t v, h;
    align_entry(d, id, &v, &h);
    if (h > 64 || v < 0)
        return 1;
    return (uint32_t)v;
}

static int is_packed(dumper_t *d, uint32_t id) {
    const sec_t *s = d->s;
    uint32_t max_align = 1, v = VLEN(s, id), kflag = KFLAG(s, id);
    for (uint32_t i = 0; i < v; i++) {
        const uint32_t *m = ITEMS(s, id) + 3 * i;
        uint32_t a = calign(d, m[1]);
        if (a > max_align)
            max_align = a;
        uint32_t bits = kflag ? (m[2] & 0xFFFFFF) : m[2], bsz = kflag ? m[2] >> 24 : 0;
        if (!bsz && bits % (a * 8))
            return 1;
    }
    return SIZE_OR_TYPE(s, id) % max_align != 0;
}

/* Python's -(-a // b) for a >= 0, b > 0 */
static int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

static int padding(dumper_t *d, sb_t *b, int64_t cur, int64_t target, int indent) {
    if (target > cur) {
        int64_t n = (target - 1) / 64 - cur / 64 + 1;
        d->padding_left -= n;
        if (d->padding_left < 0) {
            FAIL(d);
            return -1;
        }
    }
    while (cur < target) {
        int64_t room = 64 - cur % 64;
        int64_t n = room < target - cur ? room : target - cur;
        sb_tabs(b, indent);
        SB_LIT(b, "long: ");
        sb_s64(b, n);
        SB_LIT(b, ";\n");
        cur += n;
    }
    return 0;
}

static char *composite_body(dumper_t *d, uint32_t id, int indent) {
    if (!enter(d))
        return NULL;
    const sec_t *s = d->s;
    int is_union = KIND(s, id) == K_UNION;
    sb_t b = {0};
    sb_str(&b, is_union ? "union" : "struct");
    if (*NAME(d, id)) {
        sb_add(&b, " ", 1);
        sb_str(&b, tag_name(d, id));
    }
    SB_LIT(&b, " {\n");
    int packed = is_packed(d, id);
    int64_t cur = 0, max_align = 1;
    uint32_t v = VLEN(s, id), kflag = KFLAG(s, id);
    for (uint32_t i = 0; i < v && !d->fail; i++) {
        const uint32_t *m = ITEMS(s, id) + 3 * i;
        uint32_t mtype = m[1];
        int64_t off = kflag ? (m[2] & 0xFFFFFF) : m[2], bsz = kflag ? m[2] >> 24 : 0;
        int64_t size = csize(d, mtype);
        int64_t align = packed ? 1 : calign(d, mtype);
        if (!is_union) {
            int64_t nat;
            if (bsz) {
                int64_t unit = align * 8;
                nat = (packed || cur / unit == (cur + bsz - 1) / unit) ? cur : cdiv(cur, unit) * unit;
            } else {
                nat = cdiv(cur, align * 8) * (align * 8);
            }
            if (off > nat && padding(d, &b, cur, off, indent + 1))
                break;
        }
        const char *mname = STR(s, m[0]);
        if (!mname) {
            FAIL(d);
            break;
        }
        char *text = decl(d, mtype, mname, indent + 1);
        if (!text)
            break;
        sb_tabs(&b, indent + 1);
        sb_str(&b, text);
        free(text);
        if (bsz) {
            SB_LIT(&b, ": ");
            sb_s64(&b, bsz);
        }
        SB_LIT(&b, ";\n");
        if (!bsz || *mname) {
            if (align > max_align)
                max_align = align;
        }
        int64_t end = off + (bsz ? bsz : size * 8);
        if (!is_union || end > cur)
            cur = end;
    }
    if (!d->fail && !is_union) {
        int64_t size = SIZE_OR_TYPE(s, id);
        int64_t nat_size = cdiv(cdiv(cur, 8), max_align) * max_align;
        if (size > nat_size || (size * 8 > cur && size % max_align == 0 && cdiv(cur, 8) < size &&
                                nat_size != size))
            padding(d, &b, cur, size * 8, indent + 1);
    }
    sb_tabs(&b, indent);
    SB_LIT(&b, "}");
    if (packed)
        SB_LIT(&b, " __attribute__((packed))");
    LEAVE(d);
    if (d->fail) {
        free(b.p);
        return NULL;
    }
    return sb_take(&b);
}

static void free_dumper(dumper_t *d) {
    for (size_t i = 0; i < d->nout; i++)
        free(d->out[i]);
    free(d->out);
    if (d->tag_names)
        for (uint32_t i = 0; i <= d->s->n; i++)
            free(d->tag_names[i]);
    if (d->enum_vals)
        for (uint32_t i = 0; i <= d->s->n; i++) {
            if (!d->enum_vals[i])
                continue;
            for (char **p = d->enum_vals[i]; *p; p++)
                free(*p);
            free(d->enum_vals[i]);
        }
    free(d->tag_names);
    free(d->enum_vals);
    free(d->state);
    free(d->done);
    free(d->referenced);
    free(d->sizes);
    free(d->align_val);
    free(d->align_h);
    map_free(&d->tag_used);
    map_free(&d->ident_count);
    map_free(&d->ident_used);
    map_free(&d->comp_index);
}

/* CDumper.definitions(); returns 0 and the text in *out, or -1 (give up) */
/* CDumper.kfunc_block(): bpftool's dump_btf_kfuncs(), the FUNCs a whole-function DECL_TAG
   "bpf_kfunc" names, by name (then id), "__bpf_fastcall " before those "bpf_fastcall" also names */
typedef struct { const char *name; uint32_t id; int fastcall; } kfunc_t;

static int kfunc_cmp(const void *a, const void *b) {
    const kfunc_t *x = a, *y = b;
    int r = strcmp(x->name, y->name);
    return r ? r : (x->id > y->id) - (x->id < y->id);
}

static void kfunc_block(dumper_t *d) {
    const sec_t *s = d->s;
    uint32_t n = s->n;
    uint8_t *fast = calloc(n + 1, 1);
    kfunc_t *kf = NULL;
    size_t nk = 0, cap = 0;
    if (!fast) {
        FAIL(d);
        return;
    }
    for (uint32_t pass = 0; pass < 2 && !d->fail; pass++) {
        for (uint32_t id = 1; id <= n; id++) {
            if (KIND(s, id) != K_DECL_TAG || (int32_t)ITEMS(s, id)[0] != -1)
                continue;
            uint32_t t = SIZE_OR_TYPE(s, id);
            if (t == 0 || t > n || KIND(s, t) != K_FUNC)
                continue;
            const char *tag = NAME(d, id);
            if (pass == 0 && strcmp(tag, "bpf_fastcall") == 0) {
                fast[t] = 1;
            } else if (pass == 1 && strcmp(tag, "bpf_kfunc") == 0) {
                if (nk == cap) {
                    size_t nc = cap ? cap * 2 : 64;
                    kfunc_t *g = realloc(kf, nc * sizeof *kf);
                    if (!g) {
                        FAIL(d);
                        break;
                    }
                    kf = g;
                    cap = nc;
                }
                kf[nk].name = NAME(d, t);
                kf[nk].id = t;
                kf[nk].fastcall = fast[t];
                nk++;
            }
        }
    }
    if (nk)
        qsort(kf, nk, sizeof *kf, kfunc_cmp);
    for (size_t i = 0; i < nk && !d->fail; i++)
        need_decl(d, SIZE_OR_TYPE(s, kf[i].id));
    sb_t b = {0};
    SB_LIT(&b, "\n/* BPF kfuncs */\n#ifndef BPF_NO_KFUNC_PROTOTYPES\n");
    for (size_t i = 0; i < nk && !d->fail; i++) {
        char *text = decl(d, SIZE_OR_TYPE(s, kf[i].id), kf[i].name, 0);
        if (!text)
            break;
        SB_LIT(&b, "extern ");
        if (kf[i].fastcall)
            SB_LIT(&b, "__bpf_fastcall ");
        sb_str(&b, text);
        SB_LIT(&b, " __weak __ksym;\n");
        free(text);
    }
    SB_LIT(&b, "#endif\n\n");
    out_push(d, sb_take(&b));
    free(kf);
    free(fast);
}

static int definitions(const sec_t *s, int param_names, int functions, sb_t *text) {
    dumper_t D = {0};
    dumper_t *d = &D;
    uint32_t n = s->n;
    d->s = s;
    d->param_names = param_names;
    d->functions = functions;
    d->top_start = -1;
    d->padding_left = MAX_PADDING_LINES;
    d->state = calloc(n + 1, 1);
    d->done = calloc(n + 1, 1);
    d->tag_names = calloc(n + 1, sizeof(char *));
    d->enum_vals = calloc(n + 1, sizeof(char **));
    d->referenced = calloc(n + 1, 1);
    d->sizes = malloc((n + 1) * sizeof(int64_t));
    d->align_val = malloc((n + 1) * sizeof(int32_t));
    d->align_h = malloc((n + 1) * sizeof(int32_t));
    if (!d->state || !d->done || !d->tag_names || !d->enum_vals || !d->referenced || !d->sizes ||
        !d->align_val || !d->align_h) {
        free_dumper(d);
        return -1;
    }
    for (uint32_t i = 0; i <= n; i++) {
        d->sizes[i] = -2;
        d->align_val[i] = -2;
        d->align_h[i] = 0;
    }
    /* every id some type refers to (FUNC, VAR, DATASEC, DECL_TAG not counted) and the first
       STRUCT/UNION of each name */
    for (uint32_t id = 1; id <= n && !d->fail; id++) {
        uint32_t k = KIND(s, id), v = VLEN(s, id);
        const uint32_t *it = ITEMS(s, id);
        uint32_t refs[2] = {0, 0};
        int nrefs = 0;
        switch (k) {
        case K_PTR: case K_TYPEDEF: case K_VOLATILE: case K_CONST: case K_RESTRICT: case K_TYPE_TAG:
            refs[0] = SIZE_OR_TYPE(s, id);
            nrefs = 1;
            break;
        case K_ARRAY:
            refs[0] = it[0];
            refs[1] = it[1];
            nrefs = 2;
            break;
        case K_STRUCT: case K_UNION:
            for (uint32_t i = 0; i < v; i++)
                if (it[3 * i + 1] <= n)
                    d->referenced[it[3 * i + 1]] = 1;
            if (*NAME(d, id)) {
                sb_t key = {0};
                char kc = (char)k;
                sb_add(&key, &kc, 1);
                sb_str(&key, NAME(d, id));
                ent_t *e = key.oom ? NULL : map_find(&d->comp_index, key.p, key.n, 1);
                free(key.p);
                if (!e)
                    FAIL(d);
                else if (!e->val)
                    e->val = id;
            }
            break;
        case K_FUNC_PROTO:
            refs[0] = SIZE_OR_TYPE(s, id);
            nrefs = 1;
            for (uint32_t i = 0; i < v; i++)
                if (it[2 * i + 1] <= n)
                    d->referenced[it[2 * i + 1]] = 1;
            break;
        default:
            break;
        }
        for (int i = 0; i < nrefs; i++)
            if (refs[i] <= n)
                d->referenced[refs[i]] = 1;
    }
    for (uint32_t id = 1; id <= n && !d->fail; id++) {
        uint32_t k = KIND(s, id);
        if (k == K_STRUCT || k == K_UNION) {
            if (*NAME(d, id))
                emit_composite(d, id);
        } else if (k == K_ENUM || k == K_ENUM64) {
            if (*NAME(d, id) || !d->referenced[id])
                emit_enum(d, id);
        } else if (k == K_TYPEDEF) {
            emit_typedef(d, id);
            need_complete(d, SIZE_OR_TYPE(s, id));
        } else if (k == K_FWD) {
            need_decl(d, id);
        }
    }
    if (functions) {
        for (uint32_t id = 1; id <= n && !d->fail; id++) {
            if (KIND(s, id) != K_FUNC)
                continue;
            uint32_t t = SIZE_OR_TYPE(s, id);
            need_decl(d, t);
            char *text = decl(d, t, NAME(d, id), 0);
            if (!text)
                break;
            sb_t b = {0};
            if (VLEN(s, id) == 0)
                SB_LIT(&b, "static ");
            sb_str(&b, text);
            SB_LIT(&b, ";\n\n");
            free(text);
            out_push(d, sb_take(&b));
        }
    }
    if (!d->fail)
        kfunc_block(d);
    int rc = d->fail ? -1 : 0;
    if (!rc) {
        for (size_t i = 0; i < d->nout; i++)
            sb_str(text, d->out[i]);
        if (text->oom)
            rc = -1;
    }
    free_dumper(d);
    return rc;
}

/* ---- meta rules (codec._decode_types(): btf_check_meta()) ------------------------------------ */

#define BTF_MAX_TYPE 0x000FFFFF
#define BTF_INFO_MASK 0x9F00FFFFu
#define BTF_INT_MASK 0x0FFFFFFFu

/* Every record readable and every meta rule kept; offs/kinds filled. 0 ok, -1 not vouched. */
static int meta_scan(sec_t *s, uint32_t start_id, uint64_t limit, uint8_t **kinds_out) {
    if (scan(s))
        return -1;
    if ((uint64_t)start_id + s->n - 1 > BTF_MAX_TYPE && s->n)
        return -1;
    uint8_t *kinds = malloc(s->n + 1);
    if (!kinds)
        return -1;
    for (uint32_t id = 1; id <= s->n; id++) {
        const uint32_t *r = s->w + s->offs[id];
        uint32_t info = r[1], k = (info >> 24) & 31, vlen = info & 0xFFFF, kflag = info >> 31;
        kinds[id] = (uint8_t)k;
        if (info & ~BTF_INFO_MASK || r[0] >= limit)
            goto bad;
        switch (k) {
        case K_PTR: case K_CONST: case K_VOLATILE: case K_RESTRICT: case K_TYPEDEF: case K_VAR: case K_FLOAT:
            if (vlen || kflag)
                goto bad;
            break;
        case K_ARRAY:
            if (vlen || kflag || r[2])
                goto bad;
            break;
        case K_INT:
            if (vlen || kflag || (r[3] & ~BTF_INT_MASK))
                goto bad;
            break;
        case K_FUNC: case K_DATASEC:
            if (kflag)
                goto bad;
            break;
        case K_FUNC_PROTO:
            if (kflag)
                goto bad;
            for (uint32_t i = 0; i < vlen; i++)
                if (r[3 + 2 * i] >= limit)
                    goto bad;
            break;
        case K_FWD:
            if (vlen || r[2])
                goto bad;
            break;
        case K_DECL_TAG: case K_TYPE_TAG:
            if (vlen)
                goto bad;
            break;
        case K_STRUCT: case K_UNION: case K_ENUM64:
            for (uint32_t i = 0; i < vlen; i++)
                if (r[3 + 3 * i] >= limit)
                    goto bad;
            break;
        case K_ENUM:
            for (uint32_t i = 0; i < vlen; i++)
                if (r[3 + 2 * i] >= limit)
                    goto bad;
            break;
        default:
            goto bad;
        }
    }
    *kinds_out = kinds;
    return 0;
bad:
    free(kinds);
    return -1;
}

/* ---- graph rules (validate.validate_btf(), as bulk_validate.section_ok() accepts) ------------ */

static int ident_ok(const char *p) {
    /* btf_name_valid_identifier(): [A-Za-z_.][A-Za-z0-9_.]*, fewer than 512 chars */
    size_t n = 0;
    for (; p[n]; n++) {
        unsigned char c = (unsigned char)p[n];
        int alpha = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' || c == '.';
        if (!(alpha || (n && c >= '0' && c <= '9')))
            return 0;
        if (n >= 510)
            return p[n + 1] == 0;
    }
    return n > 0;
}

static int name_ident(const sec_t *s, uint32_t off) {
    const char *p = STR(s, off);
    return p && ident_ok(p);
}
static int name_opt_ident(const sec_t *s, uint32_t off) {
    const char *p = STR(s, off);
    return p && (!*p || ident_ok(p));
}
static int name_empty(const sec_t *s, uint32_t off) {
    const char *p = STR(s, off);
    return p && !*p;
}

typedef struct {
    const sec_t *s;
    uint32_t count;
    int64_t *size;      /* by id: BTF.size_of(), -1 none; -2 not yet */
    uint32_t *chain;    /* scratch for vsize() */
} vctx_t;

static int64_t sat_mul(int64_t a, int64_t b) {
    if (a < 0 || b < 0)
        return -1;
    if (a && b > INT64_MAX / 4 / a)
        return INT64_MAX / 4;
    return a * b;
}

/* size_of() once the graph is known to have no loops: follow the chain of typedefs, modifiers,
   vars and arrays iteratively (a chain may be as long as the section), then fill it in */
static int64_t vsize(vctx_t *v, uint32_t id) {
    const sec_t *s = v->s;
    if (id == 0 || id >= v->count)
        return -1;
    if (v->size[id] != -2)
        return v->size[id];
    size_t depth = 0;
    uint32_t t = id;
    int64_t r;
    for (;;) {  /* walk down to a type whose size is known or direct */
        if (t == 0 || t >= v->count) {
            r = -1;
            break;
        }
        if (v->size[t] != -2) {
            r = v->size[t];
            break;
        }
        uint32_t k = KIND(s, t);
        if (k == K_INT || k == K_STRUCT || k == K_UNION || k == K_ENUM || k == K_ENUM64 || k == K_FLOAT ||
            k == K_DATASEC) {
            r = SIZE_OR_TYPE(s, t);
            v->size[t] = r;
            break;
        }
        if (k == K_PTR) {
            r = 8;
            v->size[t] = r;
            break;
        }
        if (!(is_modifier(k) || k == K_VAR || k == K_ARRAY)) {
            r = -1;
            v->size[t] = r;
            break;
        }
        v->chain[depth++] = t;
        t = k == K_ARRAY ? ITEMS(s, t)[0] : SIZE_OR_TYPE(s, t);
        if (depth > s->n)
            return -1;  /* cannot happen once loops are excluded */
    }
    while (depth) {  /* back up the chain */
        uint32_t c = v->chain[--depth];
        if (KIND(s, c) == K_ARRAY)
            r = sat_mul(r, ITEMS(s, c)[2]);
        v->size[c] = r;
    }
    return r;
}

static uint32_t resolved_kind(const sec_t *s, uint32_t id) {
    while (id) {
        uint32_t k = KIND(s, id);
        if (!is_modifier(k))
            return k;
        id = SIZE_OR_TYPE(s, id);
    }
    return K_UNKN;
}

/* Depth-first walk: 0 no cycle, -1 cycle. value: the value graph; else the pointer-chain graph. */
static int has_cycle(const sec_t *s, int value) {
    uint32_t n = s->n;
    uint8_t *state = calloc(n + 1, 1);
    uint32_t *stack = malloc((n + 1) * sizeof(uint32_t) * 2);  /* (node, next item) pairs */
    if (!state || !stack) {
        free(state);
        free(stack);
        return -1;
    }
    int rc = 0;
    for (uint32_t root = 1; root <= n && !rc; root++) {
        if (state[root])
            continue;
        size_t sp = 0;
        stack[sp++] = root;
        stack[sp++] = 0;
        state[root] = 1;
        while (sp && !rc) {
            uint32_t node = stack[sp - 2], i = stack[sp - 1];
            uint32_t k = KIND(s, node), next = 0;
            int have = 0;
            if (value) {
                if (k == K_STRUCT || k == K_UNION) {
                    if (i < VLEN(s, node)) {
                        next = ITEMS(s, node)[3 * i + 1];
                        have = 1;
                    }
                } else if (i == 0 && (is_modifier(k) || k == K_ARRAY || k == K_VAR)) {
                    next = k == K_ARRAY ? ITEMS(s, node)[0] : SIZE_OR_TYPE(s, node);
                    have = 1;
                }
            } else if (i == 0 && (is_modifier(k) || k == K_ARRAY || k == K_PTR)) {
                next = k == K_ARRAY ? ITEMS(s, node)[0] : SIZE_OR_TYPE(s, node);
                uint32_t tk = (next && next <= n) ? KIND(s, next) : K_UNKN;
                have = !(tk == K_STRUCT || tk == K_UNION || tk == K_FWD || tk == K_FUNC_PROTO);
            }
            if (!have) {
                state[node] = 2;
                sp -= 2;
                continue;
            }
            stack[sp - 1] = i + 1;
            if (next == 0 || next > n)
                continue;
            if (state[next] == 1) {
                rc = -1;
            } else if (state[next] == 0) {
                state[next] = 1;
                stack[sp++] = next;
                stack[sp++] = 0;
            }
        }
    }
    free(state);
    free(stack);
    return rc;
}

/* 1: every rule of validate_btf() holds (own types, no base); 0: not vouched. */
static int rules_hold(const sec_t *s) {
    uint32_t n = s->n, count = n + 1;
    for (uint32_t id = 1; id <= n; id++) {
        const uint32_t *r = s->w + s->offs[id];
        uint32_t info = r[1], k = (info >> 24) & 31, vlen = info & 0xFFFF, kflag = info >> 31;
        const uint32_t *it = r + 3;
        switch (k) {
        case K_FUNC:
            if (!name_ident(s, r[0]) || vlen > 1 || r[2] == 0 || r[2] >= count || KIND(s, r[2]) != K_FUNC_PROTO)
                return 0;
            break;
        case K_FUNC_PROTO:
            if (!name_empty(s, r[0]) || r[2] >= count)
                return 0;
            for (uint32_t i = 0; i < vlen; i++) {
                uint32_t pn = it[2 * i], pt = it[2 * i + 1];
                if (pt == 0 && (i != vlen - 1 || !name_empty(s, pn)))
                    return 0;
                if (pt >= count || !name_opt_ident(s, pn))
                    return 0;
            }
            break;
        case K_PTR: case K_CONST: case K_VOLATILE: case K_RESTRICT:
            if (!name_empty(s, r[0]) || r[2] >= count)
                return 0;
            break;
        case K_TYPEDEF:
            if (!name_ident(s, r[0]) || r[2] >= count)
                return 0;
            break;
        case K_TYPE_TAG:
            if (name_empty(s, r[0]) || !STR(s, r[0]) || r[2] >= count)
                return 0;
            break;
        case K_STRUCT: case K_UNION: {
            uint32_t last = 0;
            if (!name_opt_ident(s, r[0]))
                return 0;
            for (uint32_t i = 0; i < vlen; i++) {
                const uint32_t *m = it + 3 * i;
                uint32_t off = kflag ? (m[2] & 0xFFFFFF) : m[2];
                if (!name_opt_ident(s, m[0]) || m[1] == 0 || m[1] >= count)
                    return 0;
                if ((k == K_UNION && off) || last > off || ((uint64_t)off + 7) / 8 > r[2])
                    return 0;
                last = off;
            }
            break;
        }
        case K_ARRAY:
            if (!name_empty(s, r[0]) || it[0] == 0 || it[0] >= count || it[1] == 0 || it[1] >= count)
                return 0;
            break;
        case K_ENUM: case K_ENUM64: {
            uint32_t sz = r[2], stride = k == K_ENUM ? 2 : 3;
            if (sz > 8 || sz == 0 || (sz & (sz - 1)) || !name_opt_ident(s, r[0]))
                return 0;
            for (uint32_t i = 0; i < vlen; i++)
                if (!name_ident(s, it[stride * i]))
                    return 0;
            break;
        }
        case K_INT: {
            uint32_t d = r[3], bits = (d & 0xFF) + ((d >> 16) & 0xFF), enc = (d >> 24) & 0x0F;
            if (bits > 128 || (bits + 7) / 8 > r[2] || !(enc == 0 || enc == 1 || enc == 2 || enc == 4))
                return 0;
            break;
        }
        case K_FWD:
            if (!name_ident(s, r[0]))
                return 0;
            break;
        case K_VAR:
            if (!name_ident(s, r[0]) || r[2] == 0 || r[2] >= count || r[3] > 2)
                return 0;
            break;
        case K_DATASEC: {
            const char *nm = STR(s, r[0]);
            size_t len = nm ? strlen(nm) : 0;
            uint64_t last_end = 0;
            if (!r[2] || !nm || len == 0 || len >= 512)
                return 0;
            for (size_t i = 0; i < len; i++)
                if ((unsigned char)nm[i] < 0x20 || (unsigned char)nm[i] > 0x7E)
                    return 0;
            for (uint32_t i = 0; i < vlen; i++) {
                const uint32_t *e = it + 3 * i;
                if (e[0] == 0 || e[0] >= count || e[1] < last_end || e[1] >= r[2] || !e[2] || e[2] > r[2])
                    return 0;
                last_end = (uint64_t)e[1] + e[2];
                if (last_end > r[2] || KIND(s, e[0]) != K_VAR)
                    return 0;
            }
            break;
        }
        case K_FLOAT:
            if (!name_ident(s, r[0]) || !(r[2] == 2 || r[2] == 4 || r[2] == 8 || r[2] == 12 || r[2] == 16))
                return 0;
            break;
        case K_DECL_TAG: {
            int32_t ci = (int32_t)r[3];
            if (name_empty(s, r[0]) || ci < -1 || r[2] == 0 || r[2] >= count)
                return 0;
            uint32_t tk = KIND(s, r[2]);
            if (!(tk == K_STRUCT || tk == K_UNION || tk == K_VAR || tk == K_FUNC || tk == K_TYPEDEF))
                return 0;
            if (ci != -1) {
                uint32_t parts;
                if (tk == K_VAR || tk == K_TYPEDEF)
                    return 0;
                if (tk == K_FUNC) {
                    uint32_t proto = SIZE_OR_TYPE(s, r[2]);
                    if (proto >= count)
                        return 0;
                    parts = KIND(s, proto) == K_FUNC_PROTO ? VLEN(s, proto) : 0;
                } else {
                    parts = VLEN(s, r[2]);
                }
                if ((uint32_t)ci >= parts)
                    return 0;
            }
            break;
        }
        default:
            return 0;
        }
    }
    if (has_cycle(s, 1) || has_cycle(s, 0))
        return 0;
    /* sizes and layouts (btf_struct_resolve(), btf_array_resolve()) */
    vctx_t v = {s, count, malloc(count * sizeof(int64_t)), malloc((count + 1) * sizeof(uint32_t))};
    if (!v.size || !v.chain) {
        free(v.size);
        free(v.chain);
        return 0;
    }
    for (uint32_t i = 0; i < count; i++)
        v.size[i] = -2;
    int ok = 1;
    for (uint32_t id = 1; id <= n && ok; id++) {
        const uint32_t *r = s->w + s->offs[id];
        uint32_t k = (r[1] >> 24) & 31, vlen = r[1] & 0xFFFF, kflag = r[1] >> 31;
        const uint32_t *it = r + 3;
        if (k == K_STRUCT || k == K_UNION) {
            for (uint32_t i = 0; i < vlen && ok; i++) {
                const uint32_t *m = it + 3 * i;
                int64_t ms = vsize(&v, m[1]);
                uint64_t off = kflag ? (m[2] & 0xFFFFFF) : m[2], bs = kflag ? m[2] >> 24 : 0;
                if (ms < 0) {
                    ok = 0;
                } else if (bs) {
                    uint32_t bk = resolved_kind(s, m[1]);
                    if (!(bk == K_INT || bk == K_ENUM || bk == K_ENUM64) || bs > (uint64_t)ms * 8 ||
                        (off + bs + 7) / 8 > r[2])
                        ok = 0;
                } else if (off / 8 + (uint64_t)ms > r[2]) {
                    ok = 0;
                }
            }
        } else if (k == K_ARRAY) {
            int64_t es = vsize(&v, it[0]);
            if (es < 0 || (it[2] && (uint64_t)es > 0xFFFFFFFFull / it[2]) || resolved_kind(s, it[1]) != K_INT)
                ok = 0;
        } else if (k == K_VAR) {
            uint32_t vk = KIND(s, r[2]);
            if (vk == K_FUNC || vk == K_FUNC_PROTO || vk == K_VAR || vk == K_DATASEC || vk == K_DECL_TAG)
                ok = 0;
        }
    }
    free(v.size);
    free(v.chain);
    return ok;
}

/* ---- Python entry points ------------------------------------------------------------------- */

static int load(PyObject *words, PyObject *strings, Py_buffer *wb, Py_buffer *strb, sec_t *s) {
    memset(s, 0, sizeof *s);
    if (PyObject_GetBuffer(words, wb, PyBUF_SIMPLE) < 0)
        return -1;
    if (PyObject_GetBuffer(strings, strb, PyBUF_SIMPLE) < 0) {
        PyBuffer_Release(wb);
        return -1;
    }
    s->w = (const uint32_t *)wb->buf;
    s->nw = (size_t)wb->len / 4;
    s->str = (const char *)strb->buf;
    s->str_len = (size_t)strb->len;
    return 0;
}

static PyObject *result(sb_t *b, int rc) {
    if (rc || b->oom) {
        free(b->p);
        Py_RETURN_NONE;
    }
    PyObject *r = PyBytes_FromStringAndSize(b->p ? b->p : "", (Py_ssize_t)b->n);
    free(b->p);
    return r;
}

static PyObject *py_raw_text(PyObject *self, PyObject *args) {
    PyObject *words, *strings;
    unsigned int expect;
    if (!PyArg_ParseTuple(args, "OOI", &words, &strings, &expect))
        return NULL;
    Py_buffer wb, strb;
    sec_t s;
    if (load(words, strings, &wb, &strb, &s) < 0)
        return NULL;
    sb_t b = {0};
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = (s.str_len && s.str[s.str_len - 1] == 0 && scan(&s) == 0 && s.n == expect) ? raw_dump(&s, &b) : -1;
    Py_END_ALLOW_THREADS
    free(s.offs);
    PyBuffer_Release(&wb);
    PyBuffer_Release(&strb);
    return result(&b, rc);
}

static PyObject *py_c_definitions(PyObject *self, PyObject *args) {
    PyObject *words, *strings;
    unsigned int expect;
    int param_names, functions;
    if (!PyArg_ParseTuple(args, "OOIpp", &words, &strings, &expect, &param_names, &functions))
        return NULL;
    Py_buffer wb, strb;
    sec_t s;
    if (load(words, strings, &wb, &strb, &s) < 0)
        return NULL;
    sb_t b = {0};
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = (s.str_len && s.str[s.str_len - 1] == 0 && scan(&s) == 0 && s.n == expect)
             ? definitions(&s, param_names, functions, &b) : -1;
    Py_END_ALLOW_THREADS
    free(s.offs);
    PyBuffer_Release(&wb);
    PyBuffer_Release(&strb);
    return result(&b, rc);
}

static PyObject *py_scan(PyObject *self, PyObject *args) {
    PyObject *words;
    unsigned int start_id;
    unsigned long long limit;
    if (!PyArg_ParseTuple(args, "OIK", &words, &start_id, &limit))
        return NULL;
    Py_buffer wb;
    if (PyObject_GetBuffer(words, &wb, PyBUF_SIMPLE) < 0)
        return NULL;
    sec_t s;
    memset(&s, 0, sizeof s);
    s.w = (const uint32_t *)wb.buf;
    s.nw = (size_t)wb.len / 4;
    uint8_t *kinds = NULL;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = (wb.len % 4) ? -1 : meta_scan(&s, start_id, limit, &kinds);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&wb);
    if (rc) {
        free(s.offs);
        Py_RETURN_NONE;
    }
    /* word index of each record (id order, then the section's length) and each one's kind */
    s.offs[0] = (uint32_t)s.nw;
    PyObject *offs = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(s.n + 1) * 4);
    PyObject *k = PyBytes_FromStringAndSize((const char *)kinds + 1, s.n);
    if (offs) {
        uint32_t *o = (uint32_t *)PyBytes_AS_STRING(offs);
        memcpy(o, s.offs + 1, (size_t)s.n * 4);
        o[s.n] = (uint32_t)s.nw;
    }
    free(s.offs);
    free(kinds);
    if (!offs || !k) {
        Py_XDECREF(offs);
        Py_XDECREF(k);
        return NULL;
    }
    return Py_BuildValue("(NN)", offs, k);
}

static PyObject *py_rules_hold(PyObject *self, PyObject *args) {
    PyObject *words, *strings;
    unsigned int expect;
    if (!PyArg_ParseTuple(args, "OOI", &words, &strings, &expect))
        return NULL;
    Py_buffer wb, strb;
    sec_t s;
    if (load(words, strings, &wb, &strb, &s) < 0)
        return NULL;
    int ok;
    Py_BEGIN_ALLOW_THREADS
    ok = (s.str_len && s.str[s.str_len - 1] == 0 && scan(&s) == 0 && s.n == expect) ? rules_hold(&s) : 0;
    Py_END_ALLOW_THREADS
    free(s.offs);
    PyBuffer_Release(&wb);
    PyBuffer_Release(&strb);
    return PyBool_FromLong(ok);
}

static PyMethodDef methods[] = {
    {"scan", py_scan, METH_VARARGS,
     "scan(words, start_id, limit) -> (offs, kinds) or None: record starts (u32 words, then the length) "
     "and kinds when every record keeps btf_check_meta()'s rules (names below limit)."},
    {"rules_hold", py_rules_hold, METH_VARARGS,
     "rules_hold(words, strings, n) -> bool: every rule of validate_btf() holds (True is a guarantee)."},
    {"raw_text", py_raw_text, METH_VARARGS,
     "raw_text(words, strings, n) -> bytes or None: bpftool's raw dump of a BTF without a base."},
    {"c_definitions", py_c_definitions, METH_VARARGS,
     "c_definitions(words, strings, n, param_names, functions) -> bytes or None: CDumper.definitions()."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef moddef = {
    PyModuleDef_HEAD_INIT, "_accel", "Compiled raw and C dumps of a decoded BTF (see accel.py).", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__accel(void) {
    PyObject *m = PyModule_Create(&moddef);
    if (m && PyModule_AddIntConstant(m, "VERSION", ACCEL_VERSION) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
