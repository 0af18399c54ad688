/* Tensor creation and views. A view shares its base's data: reshape, permute, transpose and slice only
 * rewrite ne/nb and an offset, and a view's gradient is scattered back into its base's in backward. */
#include "core/tensor.h"

#include <stdarg.h>

static pl_tensor *tensor_alloc(pl_ctx *ctx, pl_dtype type, int n_dims, const int64_t *ne, void *data, bool alloc_data) {
    const pl_type_traits *tr = pl_dtype_traits(type);
    if (!tr || !tr->type_size) return pl_error_null(PL_ERR_ARG, "tensor of unsupported type %d", (int)type);
    if (n_dims < 1 || n_dims > PL_MAX_DIMS) return pl_error_null(PL_ERR_ARG, "tensor with %d dimensions", n_dims);
    pl_tensor *t = pl_ctx_alloc(ctx, sizeof *t);
    if (!t) return NULL;
    memset(t, 0, sizeof *t);
    t->type = type;
    t->n_dims = n_dims;
    for (int i = 0; i < PL_MAX_DIMS; i++) t->ne[i] = i < n_dims ? ne[i] : 1;
    for (int i = 0; i < PL_MAX_DIMS; i++)
        if (t->ne[i] < 0) return pl_error_null(PL_ERR_ARG, "negative tensor dimension %lld", (long long)t->ne[i]);
    if (t->ne[0] % tr->blck_size) return pl_error_null(PL_ERR_ARG, "row of %lld is not a multiple of %s's block of %lld",
                                                       (long long)t->ne[0], tr->name, (long long)tr->blck_size);
    t->nb[0] = tr->type_size;
    t->nb[1] = pl_row_size(type, t->ne[0]);
    for (int i = 2; i < PL_MAX_DIMS; i++) t->nb[i] = t->nb[i - 1] * (size_t)t->ne[i - 1];
    if (alloc_data) {
        t->data = pl_ctx_alloc(ctx, t->nb[3] * (size_t)t->ne[3]);
        if (!t->data) return NULL;
    } else t->data = data;
    return t;
}

pl_tensor *pl_new(pl_ctx *ctx, pl_dtype type, int n_dims, const int64_t *ne) { return tensor_alloc(ctx, type, n_dims, ne, NULL, true); }
pl_tensor *pl_new_1d(pl_ctx *ctx, pl_dtype type, int64_t ne0) { return pl_new(ctx, type, 1, (int64_t[]){ne0}); }
pl_tensor *pl_new_2d(pl_ctx *ctx, pl_dtype type, int64_t ne0, int64_t ne1) { return pl_new(ctx, type, 2, (int64_t[]){ne0, ne1}); }
pl_tensor *pl_new_3d(pl_ctx *ctx, pl_dtype type, int64_t ne0, int64_t ne1, int64_t ne2) {
    return pl_new(ctx, type, 3, (int64_t[]){ne0, ne1, ne2});
}
pl_tensor *pl_new_4d(pl_ctx *ctx, pl_dtype type, int64_t ne0, int64_t ne1, int64_t ne2, int64_t ne3) {
    return pl_new(ctx, type, 4, (int64_t[]){ne0, ne1, ne2, ne3});
}
pl_tensor *pl_new_mapped(pl_ctx *ctx, pl_dtype type, int n_dims, const int64_t *ne, void *data) {
    return tensor_alloc(ctx, type, n_dims, ne, data, false);
}

void pl_set_name(pl_tensor *t, const char *fmt, ...) {
    if (!t) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->name, sizeof t->name, fmt, ap);
    va_end(ap);
}

void pl_name_suffixed(pl_tensor *t, const char *base, const char *suffix) {
    if (!t) return;
    size_t a = strnlen(base, 50), b = strlen(suffix);
    if (a > sizeof t->name - 1) a = sizeof t->name - 1;
    if (b > sizeof t->name - 1 - a) b = sizeof t->name - 1 - a;
    memmove(t->name, base, a); /* base may be t's own name */
    memcpy(t->name + a, suffix, b);
    t->name[a + b] = '\0';
}

void pl_param(pl_ctx *ctx, pl_tensor *t) {
    if (!t) return;
    t->flags |= PL_FLAG_PARAM;
    if (!t->grad) {
        t->grad = tensor_alloc(ctx, PL_F32, t->n_dims, t->ne, NULL, true);
        if (t->grad) memset(t->grad->data, 0, pl_nbytes(t->grad));
    }
}

int64_t pl_nelements(const pl_tensor *t) { return t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3]; }
int64_t pl_nrows(const pl_tensor *t) { return t->ne[1] * t->ne[2] * t->ne[3]; }
size_t pl_nbytes(const pl_tensor *t) {
    if (pl_nelements(t) == 0) return 0;
    const pl_type_traits *tr = pl_dtype_traits(t->type);
    size_t n = tr->blck_size == 1 ? tr->type_size : pl_row_size(t->type, t->ne[0]);
    for (int i = tr->blck_size == 1 ? 0 : 1; i < PL_MAX_DIMS; i++) n += (size_t)(t->ne[i] - 1) * t->nb[i];
    return n;
}
bool pl_is_contiguous(const pl_tensor *t) {
    size_t expect = pl_dtype_traits(t->type)->type_size;
    if (t->nb[0] != expect && t->ne[0] > 1) return false;
    expect = pl_row_size(t->type, t->ne[0]);
    for (int i = 1; i < PL_MAX_DIMS; i++) {
        if (t->ne[i] > 1 && t->nb[i] != expect) return false;
        expect *= (size_t)t->ne[i];
    }
    return true;
}
bool pl_same_shape(const pl_tensor *a, const pl_tensor *b) {
    for (int i = 0; i < PL_MAX_DIMS; i++)
        if (a->ne[i] != b->ne[i]) return false;
    return true;
}

/* ---- views ---------------------------------------------------------------------------------------- */
pl_tensor *pl_view(pl_ctx *ctx, pl_tensor *t, int n_dims, const int64_t *ne, const size_t *nb, size_t offset) {
    if (!t) return NULL;
    pl_tensor *base = t->op == PL_OP_VIEW ? t->src[0] : t;
    size_t base_offs = (t->op == PL_OP_VIEW ? (size_t)t->view_offs : 0) + offset;
    pl_tensor *v = tensor_alloc(ctx, t->type, n_dims, ne, (char *)base->data + base_offs, false);
    if (!v) return NULL;
    for (int i = 0; i < PL_MAX_DIMS; i++) v->nb[i] = i < n_dims ? nb[i] : v->nb[i - 1] * (size_t)v->ne[i - 1];
    /* the view must stay inside its base */
    size_t span = pl_nbytes(v), base_span = pl_nbytes(base);
    if (pl_nelements(v) > 0 && base_offs + span > base_span)
        return pl_error_null(PL_ERR_ARG, "view of %zu bytes at offset %zu exceeds its base (%zu bytes)", span, base_offs, base_span);
    v->op = PL_OP_VIEW;
    v->src[0] = base;
    v->view_offs = (int64_t)base_offs;
    pl_name_suffixed(v, t->name, " (view)");
    return v;
}

pl_tensor *pl_reshape(pl_ctx *ctx, pl_tensor *t, int n_dims, const int64_t *ne) {
    if (!t) return NULL;
    if (!pl_is_contiguous(t)) return pl_error_null(PL_ERR_ARG, "reshape of a non-contiguous tensor (use pl_cont)");
    int64_t n = 1;
    for (int i = 0; i < n_dims; i++) n *= ne[i];
    if (n != pl_nelements(t))
        return pl_error_null(PL_ERR_ARG, "reshape from %lld to %lld elements", (long long)pl_nelements(t), (long long)n);
    size_t nb[PL_MAX_DIMS];
    nb[0] = t->nb[0];
    nb[1] = pl_row_size(t->type, ne[0]);
    for (int i = 2; i < n_dims; i++) nb[i] = nb[i - 1] * (size_t)ne[i - 1];
    return pl_view(ctx, t, n_dims, ne, nb, 0);
}
pl_tensor *pl_reshape_2d(pl_ctx *ctx, pl_tensor *t, int64_t a, int64_t b) { return pl_reshape(ctx, t, 2, (int64_t[]){a, b}); }
pl_tensor *pl_reshape_3d(pl_ctx *ctx, pl_tensor *t, int64_t a, int64_t b, int64_t c) {
    return pl_reshape(ctx, t, 3, (int64_t[]){a, b, c});
}
pl_tensor *pl_reshape_4d(pl_ctx *ctx, pl_tensor *t, int64_t a, int64_t b, int64_t c, int64_t d) {
    return pl_reshape(ctx, t, 4, (int64_t[]){a, b, c, d});
}

pl_tensor *pl_permute(pl_ctx *ctx, pl_tensor *t, int a0, int a1, int a2, int a3) {
    if (!t) return NULL;
    int ax[4] = {a0, a1, a2, a3}, seen = 0;
    for (int i = 0; i < 4; i++) {
        if (ax[i] < 0 || ax[i] > 3 || (seen & (1 << ax[i]))) return pl_error_null(PL_ERR_ARG, "bad permutation");
        seen |= 1 << ax[i];
    }
    int64_t ne[4];
    size_t nb[4];
    for (int i = 0; i < 4; i++) { ne[ax[i]] = t->ne[i]; nb[ax[i]] = t->nb[i]; }
    int n_dims = t->n_dims;
    for (int i = 0; i < 4; i++) if (ne[i] > 1 && i + 1 > n_dims) n_dims = i + 1;
    pl_tensor *v = pl_view(ctx, t, 4, ne, nb, 0);
    if (v) v->n_dims = n_dims;
    return v;
}
pl_tensor *pl_transpose(pl_ctx *ctx, pl_tensor *t) { return pl_permute(ctx, t, 1, 0, 2, 3); }

pl_tensor *pl_slice(pl_ctx *ctx, pl_tensor *t, int dim, int64_t start, int64_t len) {
    if (!t) return NULL;
    if (dim < 0 || dim > 3 || start < 0 || len < 0 || start + len > t->ne[dim])
        return pl_error_null(PL_ERR_ARG, "slice [%lld, %lld) of dimension %d (size %lld)", (long long)start,
                             (long long)(start + len), dim, (long long)t->ne[dim]);
    if (dim == 0 && pl_dtype_traits(t->type)->blck_size > 1) return pl_error_null(PL_ERR_ARG, "slice inside quantized rows");
    int64_t ne[4] = {t->ne[0], t->ne[1], t->ne[2], t->ne[3]};
    ne[dim] = len;
    return pl_view(ctx, t, t->n_dims > dim ? t->n_dims : dim + 1, ne, t->nb, (size_t)start * t->nb[dim]);
}

/* whether two elements of the view can be the same base element (a stride of 0, or windows that overlap): a
 * view's backward then adds in one thread, in order, and its gradient cannot alias its base's. Dims sorted by
 * stride must each step over the whole extent of the last. */
bool pl_view_overlaps(const pl_tensor *t) {
    int d[4], n = 0;
    for (int i = 0; i < 4; i++)
        if (t->ne[i] > 1) d[n++] = i;
    for (int i = 1; i < n; i++) /* insertion sort by stride */
        for (int j = i; j > 0 && t->nb[d[j]] < t->nb[d[j - 1]]; j--) { int x = d[j]; d[j] = d[j - 1]; d[j - 1] = x; }
    size_t extent = sizeof(float);
    for (int i = 0; i < n; i++) {
        if (t->nb[d[i]] < extent) return true;
        extent = t->nb[d[i]] * (size_t)t->ne[d[i]];
    }
    return false;
}
