
/*
 * Copyright (C) ngx_calls authors
 */


#include "ngx_calls_media.h"
