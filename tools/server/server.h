// `ipadapter serve`: the HTTP server (cpp-httplib) over the public API — the routes of
// docs/server.md, the web page, the job queue and the engine cache. Usable in-process (tests
// start it on port 0 and ask port()).
#pragma once
#include <memory>

#include "ipadapter/engine.h"
#include "server_options.h"

namespace ipa::server {

class Server {
 public:
  // Throws ipa::Error for a bad --models folder or option.
  explicit Server(const ServerOptions& options, LogFn log = {});
  ~Server();  // stop()
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds host:port (0 = a free port) and serves from a background thread; returns the port.
  // Throws ipa::Error when it cannot bind. SIGPIPE is ignored from here on (a client that
  // closes its connection must not end the process).
  int start();
  int port() const;
  // Stops listening, cancels the jobs, joins every thread.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ipa::server
