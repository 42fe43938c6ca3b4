
/*
 * Copyright (C) ngx_calls authors
 */


/*
 * libFuzzer: SDP from the network; whatever parses must pass the WebRTC
 * checks or fail them cleanly, and build and parse again.
 */


#include <stdlib.h>
#include <string.h>

#include "ngx_calls_sdp.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    long              n;
    char              err[256], *text;
    ngx_calls_sdp_t   sdp, again;

    memset(&sdp, 0, sizeof(sdp));

    if (ngx_calls_sdp_parse(&sdp, (const char *) data, size, err,
                            sizeof(err))
        == 0)
    {
        (void) ngx_calls_sdp_check_webrtc(&sdp, err, sizeof(err));

        text = malloc(65536);
        if (text) {
            n = ngx_calls_sdp_build(&sdp, text, 65536);

            if (n > 0) {
                memset(&again, 0, sizeof(again));

                if (ngx_calls_sdp_parse(&again, text, n, err, sizeof(err))
                    != 0)
                {
                    /* what we write we must read */
                    abort();
                }

                ngx_calls_sdp_free(&again);
            }

            free(text);
        }
    }

    ngx_calls_sdp_free(&sdp);

    return 0;
}
