#ifndef CHIREDIS_SHIM_H
#define CHIREDIS_SHIM_H
#include <hiredis/hiredis.h>
#include <sys/socket.h>

/* Unblocks a thread waiting in redisGetReply on this context (used to stop a subscriber). */
static inline void chatify_redis_interrupt(redisContext *context) {
    if (context != NULL && context->fd >= 0) { shutdown(context->fd, SHUT_RDWR); }
}
#endif
