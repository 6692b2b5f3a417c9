/* config.c - the YAML loader (yamlnode) and the config checker on any bytes: a user's
 * imagen.yaml, or one they were sent. */
#include "fuzz.h"

#include <jansson.h>

#include "core/config.h"
#include "core/yamlnode.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ynode *root = NULL;
	struct config *cfg = NULL;
	struct err err = ERR_INIT;
	json_t *j;

	if (yaml_parse(&root, (const char *)data, size, "fuzz.yaml", &err) == 0) {
		j = ynode_to_json(root);
		json_decref(j);
		ynode_free(root);
	}
	err_clear(&err);
	if (config_parse(&cfg, (const char *)data, size, "fuzz.yaml", &err) == 0) {
		char names[256];

		config_backend_names(cfg, names, sizeof(names));
		(void)config_warnings(cfg, names, sizeof(names));
		config_free(cfg);
	}
	return 0;
}
