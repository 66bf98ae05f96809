#ifndef CMONGOC_SHIM_H
#define CMONGOC_SHIM_H
#include <mongoc/mongoc.h>

/* bson_t and bson_iter_t are declared 128-byte aligned, so Swift sees them only as
 * OpaquePointer and cannot size them. These tell Swift how much aligned storage an
 * "uninitialized bson_t *" out-parameter or an iterator needs. */
static inline size_t cmongoc_sizeof_bson_t(void) { return sizeof(bson_t); }
static inline size_t cmongoc_alignof_bson_t(void) { return BSON_ALIGNOF(bson_t); }
static inline size_t cmongoc_sizeof_bson_iter_t(void) { return sizeof(bson_iter_t); }
static inline size_t cmongoc_alignof_bson_iter_t(void) { return BSON_ALIGNOF(bson_iter_t); }

#endif
