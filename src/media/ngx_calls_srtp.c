
/*
 * Copyright (C) ngx_calls authors
 */


#include "ngx_calls_srtp.h"
