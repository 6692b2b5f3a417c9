/* cost.h - the cost record of one image: never a silent guess. */
#ifndef IMAGEN_COST_H
#define IMAGEN_COST_H

#include <jansson.h>

/** A known cost (new reference):
 *  {"usd": 0.003, "currency": "USD", "method": "<how: e.g. \"per-image price\",
 *   \"predict_time x hardware price\", \"usage tokens x prices\">",
 *   "source": "default"|"config", "detail": {...inputs of the computation...}}.
 *  detail is stolen (may be NULL). */
json_t *cost_known(double usd, const char *method, const char *source, json_t *detail);
/** An unknown cost: {"usd": null, "currency": "USD", "reason": "..."} (new reference). */
json_t *cost_unknown(const char *reason);
/** usd of a cost record, or -1 when unknown/absent. */
double cost_usd(const json_t *cost);

#endif
