/* cost.c - cost records: a number with how it was computed, or null with the reason. */
#include "core/cost.h"

json_t *cost_known(double usd, const char *method, const char *source, json_t *detail)
{
	json_t *o =
		json_pack("{s:f, s:s, s:s, s:s}", "usd", usd, "currency", "USD", "method",
			  method ? method : "unspecified", "source", source ? source : "default");

	if (o && detail)
		json_object_set(o, "detail", detail);
	json_decref(detail);
	return o;
}

json_t *cost_unknown(const char *reason)
{
	return json_pack("{s:n, s:s, s:s}", "usd", "currency", "USD", "reason",
			 reason ? reason : "unknown");
}

double cost_usd(const json_t *cost)
{
	const json_t *v = json_object_get(cost, "usd");

	return json_is_number(v) ? json_number_value(v) : -1.0;
}
