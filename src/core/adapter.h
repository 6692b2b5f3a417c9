/* adapter.h - the adapter kit: checks and conversions every adapter makes on its config
 * slice and --set options, written once (the slice's key helpers cfg_* are in
 * backend.h; upstream text goes through util/text.h, image text through util/base64.h,
 * image bytes through core/image.h). */
#ifndef IMAGEN_ADAPTER_H
#define IMAGEN_ADAPTER_H

#include <jansson.h>

/** Whether s can name an environment variable (api_key_env, token_env, auth_env): a
 *  letter or '_', then letters, digits and '_'.  NULL and "" cannot. */
int adapter_env_name_ok(const char *s);

/** A number from a config slice (a YAML integer or real) or from --set (a decimal string
 *  such as "6.5"), stored in *out when it lies in [min, max] (NaN never does).  Returns
 *  0, or -1 (*out untouched) when v is no such number. */
int adapter_number(const json_t *v, double min, double max, double *out);

#endif
