
/*
 * Copyright (C) ngx_calls authors
 */


/* libFuzzer: STUN from the network, classified and checked for a session */


#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "ngx_calls_stun.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t                  ulen, n;
    uint8_t                 out[NGX_CALLS_STUN_MAX_RESPONSE];
    struct sockaddr_in      sin;
    ngx_calls_stun_rc_e     why;
    ngx_calls_stun_check_t  check;

    static int  init;

    if (!init) {
        ngx_calls_stun_init();
        init = 1;
    }

    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons(40000);
    sin.sin_addr.s_addr = htonl(0x7f000001);

    (void) ngx_calls_stun_local_ufrag(data, size, &ulen, &why);

    (void) ngx_calls_stun_process(data, size, "evtj", "VOkJxbRl1RmTxUk/WvJxBt",
                                  NULL, 0, (struct sockaddr *) &sin,
                                  sizeof(sin), &check, out, &n);
    (void) ngx_calls_stun_process(data, size, "evtj", "VOkJxbRl1RmTxUk/WvJxBt",
                                  "h6vY", 0, (struct sockaddr *) &sin,
                                  sizeof(sin), &check, out, &n);

    return 0;
}
