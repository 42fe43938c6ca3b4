
/*
 * Copyright (C) ngx_calls authors
 */


/*
 * libFuzzer: transport-wide feedback from a receiver, against what we
 * sent it, and whatever it says goes into the bandwidth estimate.
 */


#include <string.h>

#include "ngx_calls_twcc.h"
#include "ngx_calls_bwe.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                       i, n;
    size_t                    len;
    uint64_t                  t;
    const uint8_t            *fci;

    static ngx_calls_bwe_t          bwe;
    static ngx_calls_twcc_tx_t      tx;
    static ngx_calls_twcc_result_t  res[NGX_CALLS_TWCC_TX_RING];

    ngx_calls_twcc_tx_init(&tx, (uint16_t) (size * 7919));
    ngx_calls_bwe_init(&bwe, 250000, 250000, 3750000);

    t = 1000000;

    for (i = 0; i < 300; i++) {
        (void) ngx_calls_twcc_tx_sent(&tx, 1200, t);
        t += 3000;
    }

    /* the input as an FCI, then as a whole RTCP packet */

    n = ngx_calls_twcc_tx_feedback(&tx, data, size, res,
                                   NGX_CALLS_TWCC_TX_RING);
    if (n > 0) {
        (void) ngx_calls_bwe_feedback(&bwe, res, n, t);
    }

    if (ngx_calls_twcc_fci(data, size, &fci, &len) == 0) {
        n = ngx_calls_twcc_tx_feedback(&tx, fci, len, res,
                                       NGX_CALLS_TWCC_TX_RING);
        if (n > 0) {
            (void) ngx_calls_bwe_feedback(&bwe, res, n, t + 100000);
        }
    }

    return 0;
}
