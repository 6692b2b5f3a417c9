/* comfyui.c - placeholder until the adapter lands: accepts its slice, refuses to open. */
#include <jansson.h>

#include "backend.h"

static int comfyui_validate(const char *name, const json_t *cfg, struct err *err)
{
	return 0;
}

static int comfyui_open(struct backend **out, const char *name, const json_t *cfg,
		     struct err *err)
{
	return err_code(err, 2, "the comfyui adapter is not built yet");
}

static int comfyui_generate(struct backend *b, const struct imagen_request *req,
			 struct imagen_result *res, size_t *nres, struct err *err)
{
	*nres = 0;
	return err_code(err, 1, "the comfyui adapter is not built yet");
}

static void comfyui_close(struct backend *b)
{
}

const struct backend_ops comfyui_backend_ops = {
	.type = "comfyui",
	.summary = "(not built yet)",
	.max_batch = 1,
	.validate = comfyui_validate,
	.open = comfyui_open,
	.generate = comfyui_generate,
	.close = comfyui_close,
};
