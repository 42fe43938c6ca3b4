
/*
 * Copyright (C) ngx_calls authors
 */


/* libFuzzer: calls-dc messages and the zlib SDP they may carry */


#include "ngx_calls_dc.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char                err[128];
    ngx_calls_dc_msg_t  msg;

    static uint8_t      out[65536];

    if (ngx_calls_dc_decode(data, size, &msg, err, sizeof(err)) == 0
        && msg.kind == NGX_CALLS_DC_BIN)
    {
        (void) ngx_calls_dc_inflate(msg.bin, msg.bin_len, out, sizeof(out),
                                    err, sizeof(err));
    }

    (void) ngx_calls_dc_inflate(data, size, out, sizeof(out), err,
                                sizeof(err));

    return 0;
}
