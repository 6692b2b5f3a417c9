#include "util/err.h"

#include <stdio.h>
#include <string.h>

int err_setv(struct err *err, const char *fmt, va_list ap)
{
	if (err)
		vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	return -1;
}

int err_set(struct err *err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	err_setv(err, fmt, ap);
	va_end(ap);
	return -1;
}

int err_code(struct err *err, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	err_setv(err, fmt, ap);
	va_end(ap);
	if (err)
		err->code = code;
	return -1;
}

int err_kind(struct err *err, enum err_kind kind, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	err_setv(err, fmt, ap);
	va_end(ap);
	if (err) {
		err->code = code;
		err->kind = kind;
	}
	return -1;
}

int err_key(struct err *err, const char *key, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	err_setv(err, fmt, ap);
	va_end(ap);
	if (err)
		snprintf(err->key, sizeof(err->key), "%s", key ? key : "");
	return -1;
}

void err_prefix(struct err *err, const char *fmt, ...)
{
	char head[512], old[sizeof(err->msg)];
	va_list ap;

	if (!err)
		return;
	va_start(ap, fmt);
	vsnprintf(head, sizeof(head), fmt, ap);
	va_end(ap);
	memcpy(old, err->msg, sizeof(old));
	/* a message that no longer fits is cut, not overrun */
	if (snprintf(err->msg, sizeof(err->msg), "%s: %.*s", head, (int)(sizeof(old) - 1), old) < 0)
		err->msg[0] = '\0';
}

void err_clear(struct err *err)
{
	if (!err)
		return;
	err->code = 0;
	err->kind = ERR_KIND_NONE;
	err->key[0] = '\0';
	err->msg[0] = '\0';
	err->retry_after = 0;
}
