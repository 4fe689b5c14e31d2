#include "services/nats_reader.h"

#include <nats/nats.h>

#include <memory>

#include <fmt/format.h>

#include "core/macros.h"
#include "publish/nats/nats_connection.h"

namespace herald::examples {
namespace {

using publish::NatsLastError;

// A plain connection to the servers of `config`, failing at once (no
// connecting in the background) when none answers.
Result<natsConnection*> Connect(const publish::NatsConfig& config) {
  natsOptions* opts = nullptr;
  if (natsOptions_Create(&opts) != NATS_OK) return std::unexpected(Internal("nats: no options"));
  std::unique_ptr<natsOptions, void (*)(natsOptions*)> guard(opts, natsOptions_Destroy);
  publish::NatsConfig reader = config;
  reader.name = "herald-example-consumer";
  HERALD_RETURN_IF_ERROR(publish::SetNatsConnectionOptions(opts, reader));
  natsOptions_SetRetryOnFailedConnect(opts, false, nullptr, nullptr);
  natsConnection* nc = nullptr;
  if (natsStatus s = natsConnection_Connect(&nc, opts); s != NATS_OK) {
    return std::unexpected(Unavailable(fmt::format("nats: {}", NatsLastError(s))));
  }
  return nc;
}

// A connection and its JetStream context, closed together.
struct JetStream {
  natsConnection* nc = nullptr;
  jsCtx* js = nullptr;
  ~JetStream() {
    if (js != nullptr) jsCtx_Destroy(js);
    if (nc != nullptr) natsConnection_Destroy(nc);
  }
};

Status OpenJetStream(const publish::NatsConfig& config, JetStream& out) {
  Result<natsConnection*> nc = Connect(config);
  if (!nc) return nc.error();
  out.nc = *nc;
  if (natsStatus s = natsConnection_JetStream(&out.js, out.nc, nullptr); s != NATS_OK) {
    out.js = nullptr;
    return Internal(fmt::format("nats JetStream: {}", NatsLastError(s)));
  }
  return OkStatus();
}

}  // namespace

Status CreateNatsStream(const publish::NatsConfig& config, const std::string& name,
                        const std::string& subject) {
  JetStream j;
  HERALD_RETURN_IF_ERROR(OpenJetStream(config, j));
  jsErrCode code = static_cast<jsErrCode>(0);
  js_DeleteStream(j.js, name.c_str(), nullptr, &code);  // a leftover of that name
  jsStreamConfig cfg;
  jsStreamConfig_Init(&cfg);
  cfg.Name = name.c_str();
  const char* subjects[] = {subject.c_str()};
  cfg.Subjects = subjects;
  cfg.SubjectsLen = 1;
  cfg.Storage = js_FileStorage;
  jsStreamInfo* info = nullptr;
  if (natsStatus s = js_AddStream(&info, j.js, &cfg, nullptr, &code); s != NATS_OK) {
    return Unavailable(fmt::format("nats: cannot create the stream '{}' for '{}': {}", name,
                                   subject, NatsLastError(s)));
  }
  jsStreamInfo_Destroy(info);
  return OkStatus();
}

Status DeleteNatsStream(const publish::NatsConfig& config, const std::string& name) {
  JetStream j;
  HERALD_RETURN_IF_ERROR(OpenJetStream(config, j));
  jsErrCode code = static_cast<jsErrCode>(0);
  natsStatus s = js_DeleteStream(j.js, name.c_str(), nullptr, &code);
  if (s != NATS_OK && code != JSStreamNotFoundErr) {
    return Unavailable(fmt::format("nats: cannot delete the stream '{}': {}", name,
                                   NatsLastError(s)));
  }
  return OkStatus();
}

Result<std::unique_ptr<NatsStreamReader>> NatsStreamReader::Open(
    const publish::NatsConfig& config, const std::string& stream) {
  std::unique_ptr<NatsStreamReader> reader(new NatsStreamReader());
  HERALD_ASSIGN_OR_RETURN(reader->nc_, Connect(config));
  if (natsStatus s = natsConnection_JetStream(&reader->js_, reader->nc_, nullptr); s != NATS_OK) {
    reader->js_ = nullptr;
    return std::unexpected(Internal(fmt::format("nats JetStream: {}", NatsLastError(s))));
  }
  jsSubOptions so;
  jsSubOptions_Init(&so);
  so.Stream = stream.c_str();
  so.Ordered = true;  // gap-less, re-made by cnats after a reconnect
  so.Config.DeliverPolicy = js_DeliverAll;
  jsErrCode code = static_cast<jsErrCode>(0);
  if (natsStatus s = js_SubscribeSync(&reader->sub_, reader->js_, ">", nullptr, &so, &code);
      s != NATS_OK) {
    reader->sub_ = nullptr;
    return std::unexpected(Unavailable(
        fmt::format("nats: cannot read the stream '{}': {}", stream, NatsLastError(s))));
  }
  natsSubscription_SetPendingLimits(reader->sub_, -1, -1);
  return reader;
}

NatsStreamReader::~NatsStreamReader() {
  if (sub_ != nullptr) {
    natsSubscription_Unsubscribe(sub_);
    natsSubscription_Destroy(sub_);
  }
  if (js_ != nullptr) jsCtx_Destroy(js_);
  if (nc_ != nullptr) natsConnection_Destroy(nc_);
}

Result<std::optional<BusMessage>> NatsStreamReader::Poll(std::chrono::milliseconds timeout) {
  natsMsg* msg = nullptr;
  natsStatus s = natsSubscription_NextMsg(&msg, sub_, timeout.count());
  if (s != NATS_OK) return std::optional<BusMessage>();  // a timeout, or cnats reconnecting
  std::unique_ptr<natsMsg, void (*)(natsMsg*)> owned(msg, natsMsg_Destroy);
  const char* id_text = nullptr;
  std::optional<EventId> id;
  if (natsMsgHeader_Get(msg, "Nats-Msg-Id", &id_text) == NATS_OK) id = EventId::Parse(id_text);
  if (!id) {
    return std::unexpected(InvalidArgument(fmt::format(
        "message on '{}' has no valid Nats-Msg-Id header", natsMsg_GetSubject(msg))));
  }
  BusMessage out;
  out.id = *id;
  const char* key = nullptr;
  if (natsMsgHeader_Get(msg, "ce-subject", &key) == NATS_OK) out.key = key;
  out.payload.assign(natsMsg_GetData(msg), static_cast<std::size_t>(natsMsg_GetDataLength(msg)));
  return std::optional<BusMessage>(std::move(out));
}

}  // namespace herald::examples
