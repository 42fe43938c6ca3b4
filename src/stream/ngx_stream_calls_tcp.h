
/*
 * Copyright (C) ngx_calls authors
 */


#ifndef _NGX_STREAM_CALLS_TCP_H_INCLUDED_
#define _NGX_STREAM_CALLS_TCP_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_stream.h>


extern ngx_module_t  ngx_stream_calls_module;


/* a TCP connection of the calls_media server: ICE-TCP from now on */
void ngx_stream_calls_tcp_init(ngx_stream_session_t *s);

/* a connection handed over by another worker (ngx_calls_handoff_pt) */
void ngx_stream_calls_tcp_adopt(ngx_socket_t fd, u_char *data, size_t len);


#endif /* _NGX_STREAM_CALLS_TCP_H_INCLUDED_ */
