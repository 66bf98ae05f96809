#ifndef CMSGPACK_SHIM_H
#define CMSGPACK_SHIM_H
#include <msgpack.h>

/* A packer writing into a growable buffer; the write callback is an inline function,
   whose address Swift cannot take. */
static inline msgpack_packer *chatify_msgpack_packer_new(msgpack_sbuffer *buffer) {
    return msgpack_packer_new(buffer, msgpack_sbuffer_write);
}
#endif
