/* replicate.c - placeholder until the adapter lands: accepts its slice, refuses to open. */
#include <jansson.h>

#include "backend.h"

static int replicate_validate(const char *name, const json_t *cfg, struct err *err)
{
	return 0;
}

static int replicate_open(struct backend **out, const char *name, const json_t *cfg,
		     struct err *err)
{
	return err_code(err, 2, "the replicate adapter is not built yet");
}

static int replicate_generate(struct backend *b, const struct imagen_request *req,
			 struct imagen_result *res, size_t *nres, struct err *err)
{
	*nres = 0;
	return err_code(err, 1, "the replicate adapter is not built yet");
}

static void replicate_close(struct backend *b)
{
}

const struct backend_ops replicate_backend_ops = {
	.type = "replicate",
	.summary = "(not built yet)",
	.max_batch = 1,
	.validate = replicate_validate,
	.open = replicate_open,
	.generate = replicate_generate,
	.close = replicate_close,
};
