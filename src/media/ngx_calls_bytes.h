
/*
 * Copyright (C) ngx_calls authors
 */


#ifndef _NGX_CALLS_BYTES_H_INCLUDED_
#define _NGX_CALLS_BYTES_H_INCLUDED_


#include <stdint.h>


/* network byte order, as RTP, RTCP and STUN write their fields */

#define ngx_calls_get16(p)  (uint16_t) (((p)[0] << 8) | (p)[1])
#define ngx_calls_get24(p)                                                   \
    (((uint32_t) (p)[0] << 16) | ((uint32_t) (p)[1] << 8) | (uint32_t) (p)[2])
#define ngx_calls_get32(p)                                                   \
    (((uint32_t) (p)[0] << 24) | ((uint32_t) (p)[1] << 16)                   \
     | ((uint32_t) (p)[2] << 8) | (uint32_t) (p)[3])

#define ngx_calls_put16(p, v)                                                \
    do {                                                                     \
        (p)[0] = (uint8_t) ((v) >> 8); (p)[1] = (uint8_t) (v);               \
    } while (0)
#define ngx_calls_put24(p, v)                                                \
    do {                                                                     \
        (p)[0] = (uint8_t) ((v) >> 16); (p)[1] = (uint8_t) ((v) >> 8);       \
        (p)[2] = (uint8_t) (v);                                              \
    } while (0)
#define ngx_calls_put32(p, v)                                                \
    do {                                                                     \
        (p)[0] = (uint8_t) ((v) >> 24); (p)[1] = (uint8_t) ((v) >> 16);      \
        (p)[2] = (uint8_t) ((v) >> 8); (p)[3] = (uint8_t) (v);               \
    } while (0)


#endif /* _NGX_CALLS_BYTES_H_INCLUDED_ */
