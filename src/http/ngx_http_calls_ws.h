
/*
 * Copyright (C) ngx_calls authors
 */


#ifndef _NGX_HTTP_CALLS_WS_H_INCLUDED_
#define _NGX_HTTP_CALLS_WS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


#endif /* _NGX_HTTP_CALLS_WS_H_INCLUDED_ */
