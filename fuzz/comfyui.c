/* comfyui.c - the comfyui adapter's readers of what a server sends: websocket messages
 * (against the built-in graph), a /history answer, a POST /prompt error body, an
 * execution error, and a workflow graph (a user's exported file).  on_message is
 * static: the adapter's source is included. */
#include "fuzz.h"

#include "backends/comfyui.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct imagen_request req;
	struct comfyui_params *p = NULL;
	struct err err = ERR_INIT;
	json_t *j, *images = NULL, *pj;
	struct run r;
	char line[512];

	memset(&req, 0, sizeof(req));
	memset(&r, 0, sizeof(r));
	r.req = &req;
	if (comfyui_load_graph(&r.graph, "fuzz", BUILTIN_TXT2IMG, &err) < 0)
		return 0;
	snprintf(r.prompt_id, sizeof(r.prompt_id), "p1");
	(void)on_message(&r, data, size, &err);
	json_decref(r.graph);

	j = json_loadb((const char *)data, size, 0, NULL);
	if (!j)
		return 0;
	err_clear(&err);
	if (comfyui_history_images(j, "p1", &images, &err) > 0)
		json_decref(images);
	comfyui_describe_prompt_error(line, sizeof(line), j);
	err_clear(&err);
	comfyui_describe_execution_error(&err, j);
	err_clear(&err);
	if (comfyui_params_detect(&p, j, NULL, "fuzz", &err) == 0) {
		pj = comfyui_params_json(p);
		json_decref(pj);
		comfyui_params_free(p);
	}
	json_decref(j);
	return 0;
}
