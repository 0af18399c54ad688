/* A model's description (what `plinth info` shows) as a cJSON tree, from any model path that
 * pl_model_path_resolve accepts. Fields are documented in docs/info.md. */
#ifndef PL_IO_MODEL_INFO_H
#define PL_IO_MODEL_INFO_H

#include "plinth.h"
#include <cjson/cJSON.h>

/* NULL + pl_last_error() if the path is missing, unreadable, truncated or corrupt. Free with cJSON_Delete. */
cJSON *pl_model_info(const char *path);

#endif
