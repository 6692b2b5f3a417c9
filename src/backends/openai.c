/* openai.c - placeholder until the adapter lands: accepts its slice, refuses to open. */
#include <jansson.h>

#include "backend.h"

static int openai_validate(const char *name, const json_t *cfg, struct err *err)
{
	return 0;
}

static int openai_open(struct backend **out, const char *name, const json_t *cfg,
		     struct err *err)
{
	return err_code(err, 2, "the openai adapter is not built yet");
}

static int openai_generate(struct backend *b, const struct imagen_request *req,
			 struct imagen_result *res, size_t *nres, struct err *err)
{
	*nres = 0;
	return err_code(err, 1, "the openai adapter is not built yet");
}

static void openai_close(struct backend *b)
{
}

const struct backend_ops openai_backend_ops = {
	.type = "openai",
	.summary = "(not built yet)",
	.max_batch = 1,
	.validate = openai_validate,
	.open = openai_open,
	.generate = openai_generate,
	.close = openai_close,
};
