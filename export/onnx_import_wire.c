/* What a hostile file could do to protobuf-c itself, stopped before it runs: its unpack recurses
 * once per nested message (graphs inside attributes inside graphs ... : a few hundred kilobytes
 * of nesting overflow the stack), and a small message costs a struct of ~100 bytes, so a file of
 * empty messages expands 50-fold. The wire walk follows only the recursive fields of onnx.proto;
 * the allocator counts bytes against a budget. */
#include <stdlib.h>
#include "autograd/internal.h"
#include "export/onnx_import.h"

/* The messages on onnx.proto's recursive paths (field numbers from onnx.proto). */
typedef enum {
    M_OTHER = 0,
    M_MODEL,
    M_GRAPH,
    M_NODE,
    M_ATTR,
    M_VALUE_INFO,
    M_TYPE,
    M_TYPE_ELEM, /* TypeProto.Sequence and .Optional: elem_type = 1 */
    M_TYPE_MAP,  /* value_type = 2 */
    M_TRAINING,
    M_FUNCTION,
} msg_kind;

static msg_kind child_kind(msg_kind k, uint64_t field)
{
    switch (k) {
    case M_MODEL:
        return field == 7 ? M_GRAPH : field == 20 ? M_TRAINING : field == 25 ? M_FUNCTION : M_OTHER;
    case M_GRAPH:
        return field == 1 ? M_NODE : (field >= 11 && field <= 13) ? M_VALUE_INFO : M_OTHER;
    case M_NODE:
        return field == 5 ? M_ATTR : M_OTHER;
    case M_ATTR:
        return (field == 6 || field == 11)    ? M_GRAPH
               : (field == 14 || field == 15) ? M_TYPE
                                              : M_OTHER;
    case M_VALUE_INFO:
        return field == 2 ? M_TYPE : M_OTHER;
    case M_TYPE:
        return (field == 4 || field == 9) ? M_TYPE_ELEM : field == 5 ? M_TYPE_MAP : M_OTHER;
    case M_TYPE_ELEM:
        return field == 1 ? M_TYPE : M_OTHER;
    case M_TYPE_MAP:
        return field == 2 ? M_TYPE : M_OTHER;
    case M_TRAINING:
        return (field == 1 || field == 2) ? M_GRAPH : M_OTHER;
    case M_FUNCTION:
        return field == 7 ? M_NODE : M_OTHER;
    default:
        return M_OTHER;
    }
}

static bool varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    *v = 0;
    for (int shift = 0; shift < 64 && *p < end; shift += 7) {
        uint8_t b = *(*p)++;
        *v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) return true;
    }
    return false;
}

/* 1: too deep; 0: fine, or malformed (protobuf-c will say so). */
static int walk(const uint8_t *p, const uint8_t *end, msg_kind k, int depth)
{
    if (depth > TT_IMPORT_MAX_DEPTH) return 1;
    while (p < end) {
        uint64_t key, len;
        if (!varint(&p, end, &key)) return 0;
        switch (key & 7) {
        case 0:
            if (!varint(&p, end, &len)) return 0;
            break;
        case 1:
            if (end - p < 8) return 0;
            p += 8;
            break;
        case 5:
            if (end - p < 4) return 0;
            p += 4;
            break;
        case 2: {
            if (!varint(&p, end, &len) || len > (uint64_t)(end - p)) return 0;
            msg_kind c = child_kind(k, key >> 3);
            if (c != M_OTHER && walk(p, p + len, c, depth + 1)) return 1;
            p += len;
            break;
        }
        default:
            return 0; /* groups and invalid wire types */
        }
    }
    return 0;
}

tt_status tt_imp_wire_check(const uint8_t *buf, size_t len, const char *label)
{
    if (walk(buf, buf + len, M_MODEL, 0))
        return tt_fail(TT_ERR_FORMAT,
                       "%s: graphs, types or functions nest more than %d levels deep; refused "
                       "(no model tinytrain imports nests like that: is the file hostile?)",
                       label, TT_IMPORT_MAX_DEPTH);
    return TT_OK;
}

typedef struct budget {
    size_t left;
    bool hit;
} budget;

static void *budget_alloc(void *data, size_t size)
{
    budget *b = data;
    if (size > b->left) {
        b->hit = true;
        return NULL;
    }
    b->left -= size; /* frees are not credited: the count bounds the peak from above */
    return malloc(size);
}

static void budget_free(void *data, void *p)
{
    (void)data;
    free(p);
}

Onnx__ModelProto *tt_imp_unpack(const uint8_t *buf, size_t len, const char *label)
{
    /* Legitimate files decode to about their own size (raw_data is copied once); typed int64
     * fields of small values expand 8-fold at most. */
    budget b = {.left = ((size_t)64 << 20) + 8 * len, .hit = false};
    ProtobufCAllocator a = {.alloc = budget_alloc, .free = budget_free, .allocator_data = &b};
    Onnx__ModelProto *m = onnx__model_proto__unpack(&a, len, buf);
    if (m) {
        /* free_unpacked later uses the default allocator: both end in free(). */
        return m;
    }
    if (b.hit)
        tt_fail(TT_ERR_FORMAT,
                "%s: decoding the protobuf needs more memory than a %zu-byte model can "
                "(64 MiB + 8 x its size); refused (a file of many empty messages?)",
                label, len);
    else
        tt_fail(TT_ERR_FORMAT,
                "%s: not an ONNX model: the protobuf does not parse (truncated, corrupt, or "
                "another kind of file)",
                label);
    return NULL;
}
