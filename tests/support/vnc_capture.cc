// hvmd-vnc-capture HOST PORT: connects to a VNC server as a viewer would (libvncclient, no
// password), asks for the whole screen and prints what it got on one line:
//   vnc capture WIDTHxHEIGHT center=R,G,B
// The Xen lab runs it in dom0 against the device model's console. Exit status 1 when the
// connection or the first full update fails within 20 s.
#include <rfb/rfbclient.h>

#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace {

void to_stderr(const char* format, ...) {
  va_list args;
  va_start(args, format);
  vfprintf(stderr, format, args);
  va_end(args);
}

int g_updated_rows = 0;

void on_update(rfbClient*, int, int, int, int h) {
  g_updated_rows += h;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: hvmd-vnc-capture HOST PORT\n");
    return 2;
  }
  rfbClientLog = rfbClientErr = to_stderr;
  rfbClient* client = rfbGetClient(8, 3, 4);  // 32-bit pixels, red in the lowest byte
  free(client->serverHost);
  client->serverHost = strdup(argv[1]);
  client->serverPort = atoi(argv[2]);
  client->canHandleNewFBSize = TRUE;
  client->GotFrameBufferUpdate = on_update;
  if (!rfbInitClient(client, nullptr, nullptr)) {
    fprintf(stderr, "hvmd-vnc-capture: cannot connect to %s:%s\n", argv[1], argv[2]);
    return 1;
  }
  // rfbInitClient asked for the whole screen; wait until that many rows arrived.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (g_updated_rows < client->height && std::chrono::steady_clock::now() < deadline) {
    int n = WaitForMessage(client, 100000);
    if (n < 0 || (n > 0 && !HandleRFBServerMessage(client))) break;
  }
  int status = 1;
  if (g_updated_rows >= client->height && client->width > 0) {
    const uint8_t* p =
        client->frameBuffer +
        (static_cast<size_t>(client->height / 2) * client->width + client->width / 2) * 4;
    printf("vnc capture %dx%d center=%u,%u,%u\n", client->width, client->height, p[0], p[1], p[2]);
    status = 0;
  } else {
    fprintf(stderr, "hvmd-vnc-capture: no full screen update (%d of %d rows)\n", g_updated_rows,
            client->height);
  }
  free(client->frameBuffer);
  client->frameBuffer = nullptr;
  rfbClientCleanup(client);
  return status;
}
