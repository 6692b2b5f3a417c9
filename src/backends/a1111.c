/* a1111.c - placeholder until the adapter lands: accepts its slice, refuses to open. */
#include <jansson.h>

#include "backend.h"

static int a1111_validate(const char *name, const json_t *cfg, struct err *err)
{
	return 0;
}

static int a1111_open(struct backend **out, const char *name, const json_t *cfg,
		     struct err *err)
{
	return err_code(err, 2, "the a1111 adapter is not built yet");
}

static int a1111_generate(struct backend *b, const struct imagen_request *req,
			 struct imagen_result *res, size_t *nres, struct err *err)
{
	*nres = 0;
	return err_code(err, 1, "the a1111 adapter is not built yet");
}

static void a1111_close(struct backend *b)
{
}

const struct backend_ops a1111_backend_ops = {
	.type = "a1111",
	.summary = "(not built yet)",
	.max_batch = 1,
	.validate = a1111_validate,
	.open = a1111_open,
	.generate = a1111_generate,
	.close = a1111_close,
};
