/* ws.c - the WebSocket client's framing on any bytes a server (ComfyUI's /ws) may send:
 * frames one after another into the message assembler, and the handshake answer. */
#include "fuzz.h"

#include "net/ws.h"

#define MAX_MESSAGE (1u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ws_assembler a = { BUF_INIT, 0, 0, MAX_MESSAGE };
	unsigned char *copy;
	struct ws_frame f;
	struct err err = ERR_INIT;
	size_t off;
	long n, status;
	int masked;

	if (!size)
		return 0;
	/* the handshake answer, as text */
	(void)ws_check_response((const char *)data, size, "dGhlIHNhbXBsZSBub25jZQ==", &status,
				&err);
	/* frames: the first byte says which side is reading (a server unmasks in place) */
	masked = data[0] & 1;
	copy = malloc(size);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	for (off = 1; off < size; off += (size_t)n) {
		err_clear(&err);
		n = ws_frame_decode(copy + off, size - off, masked, MAX_MESSAGE, &f, &err);
		if (n <= 0)
			break;
		if ((size_t)n > size - off || f.len > (size_t)n)
			abort(); /* a frame never claims more than it was given */
		if (f.opcode == WS_TEXT || f.opcode == WS_BINARY || f.opcode == WS_CONT) {
			if (ws_assemble(&a, &f, &err) < 0)
				break;
		}
	}
	ws_assembler_release(&a);
	free(copy);
	return 0;
}
