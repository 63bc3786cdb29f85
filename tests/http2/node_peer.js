// A WebSocket echo server over HTTP/2 (RFC 8441) on Node's own http2 module.
//
// usage: node node_peer.js PORT CERT KEY [--no-connect-protocol] [--max-streams N]
//
// Paths (the :path of the extended CONNECT):
//   /echo      echo every message; answer a Close with a Close and END_STREAM
//   /reset     echo the first message, then RST_STREAM(INTERNAL_ERROR) (destroy: no END_STREAM first)
//   /goaway    echo the first message, then GOAWAY(ENHANCE_YOUR_CALM) for the session
//   /graceful  a graceful GOAWAY (NO_ERROR) before the first echo; keep echoing
//   /headers   send the request headers back as one JSON text message, then echo
//   /drop      echo the first message, then destroy the session and its socket
// Any other request gets 404. The WebSocket framing is written here by hand
// (no dependency): client frames are unmasked, server frames are sent unmasked.
"use strict";
const http2 = require("http2");
const crypto = require("crypto");
const fs = require("fs");

const [port, certFile, keyFile, ...flags] = process.argv.slice(2);
const enable = !flags.includes("--no-connect-protocol");
const settings = { enableConnectProtocol: enable };
const limit = flags.indexOf("--max-streams");
if (limit >= 0) settings.maxConcurrentStreams = Number(flags[limit + 1]);

function frame(opcode, payload) {
  const len = payload.length;
  let head;
  if (len < 126) {
    head = Buffer.from([0x80 | opcode, len]);
  } else if (len < 65536) {
    head = Buffer.alloc(4);
    head[0] = 0x80 | opcode;
    head[1] = 126;
    head.writeUInt16BE(len, 2);
  } else {
    head = Buffer.alloc(10);
    head[0] = 0x80 | opcode;
    head[1] = 127;
    head.writeBigUInt64BE(BigInt(len), 2);
  }
  return Buffer.concat([head, payload]);
}

function parser(onFrame) {
  let buffer = Buffer.alloc(0);
  return (chunk) => {
    buffer = Buffer.concat([buffer, chunk]);
    for (;;) {
      if (buffer.length < 2) return;
      let len = buffer[1] & 0x7f;
      let offset = 2;
      if (len === 126) {
        if (buffer.length < 4) return;
        len = buffer.readUInt16BE(2);
        offset = 4;
      } else if (len === 127) {
        if (buffer.length < 10) return;
        len = Number(buffer.readBigUInt64BE(2));
        offset = 10;
      }
      const masked = (buffer[1] & 0x80) !== 0;
      const maskOffset = offset;
      if (masked) offset += 4;
      if (buffer.length < offset + len) return;
      const payload = Buffer.from(buffer.subarray(offset, offset + len));
      if (masked) {
        for (let i = 0; i < len; i++) payload[i] ^= buffer[maskOffset + (i % 4)];
      }
      const fin = (buffer[0] & 0x80) !== 0;
      onFrame(fin, buffer[0] & 0x0f, payload);
      buffer = buffer.subarray(offset + len);
    }
  };
}

const server = http2.createSecureServer({
  key: fs.readFileSync(keyFile),
  cert: fs.readFileSync(certFile),
  settings,
  allowHTTP1: true,
});

// HTTP/1.1 clients (ALPN http/1.1): the RFC 6455 upgrade, then the same echo.
server.on("upgrade", (req, socket) => {
  const accept = crypto
    .createHash("sha1")
    .update(req.headers["sec-websocket-key"] + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")
    .digest("base64");
  socket.write(
    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
      `Sec-WebSocket-Accept: ${accept}\r\n\r\n`,
  );
  socket.on("error", () => {});
  let closed = false;
  socket.on("data", parser((fin, opcode, payload) => {
    if (closed) return;
    if (opcode === 0x8) {
      closed = true;
      socket.end(frame(0x8, payload.subarray(0, 2)));
    } else if (opcode === 0x9) {
      socket.write(frame(0xa, payload));
    } else if (opcode === 0x1 || opcode === 0x2) {
      socket.write(frame(opcode, payload));
    }
  }));
});

// Ordinary requests (any method but the extended CONNECT):
//   /reset         RST_STREAM(INTERNAL_ERROR), no answer
//   /refused?ID    RST_STREAM(REFUSED_STREAM) the first time this :path is seen, then 200
//   /refused-always?ID  RST_STREAM(REFUSED_STREAM) every time; notes the session of each try
//   /tries?ID      200 with the JSON list of session numbers /refused-always?ID was tried on
//   /goaway?ID     a graceful GOAWAY whose last stream id excludes this stream (send
//                  another request first: Node reads 0 as unset), the first time this
//                  :path is seen (the stream is left unanswered), then 200
//   /goaway-error  GOAWAY(ENHANCE_YOUR_CALM) for the session, no answer
//   /silent        never answers
//   /early-hints   a 103 (interim) answer, then 200 "ok /early-hints" with trailers
//   anything else  200 "ok <path>"
const seen = new Set();
const tries = new Map();
let sessions = 0;
function plain(stream, headers) {
  const path = headers[":path"].split("?")[0];
  const first = !seen.has(headers[":path"]);
  seen.add(headers[":path"]);
  stream.on("error", () => {});
  if (path === "/reset") {
    stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
  } else if (path === "/refused" && first) {
    stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
  } else if (path === "/refused-always") {
    const id = headers[":path"].split("?")[1];
    tries.set(id, [...(tries.get(id) || []), stream.session.number]);
    stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
  } else if (path === "/tries") {
    stream.respond({ ":status": 200, "content-type": "application/json" });
    stream.end(JSON.stringify(tries.get(headers[":path"].split("?")[1]) || []));
  } else if (path === "/goaway" && first) {
    stream.session.goaway(http2.constants.NGHTTP2_NO_ERROR, stream.id - 2);
  } else if (path === "/early-hints") {
    stream.additionalHeaders({ ":status": 103, link: "</style.css>; rel=preload" });
    stream.respond({ ":status": 200, "x-final": "yes" }, { waitForTrailers: true });
    stream.on("wantTrailers", () => stream.sendTrailers({ "x-checksum": "abc" }));
    stream.end("ok " + path);
  } else if (path === "/silent") {
    // no answer
  } else if (path === "/goaway-error") {
    stream.session.goaway(http2.constants.NGHTTP2_ENHANCE_YOUR_CALM);
  } else {
    stream.respond({ ":status": 200 });
    stream.end("ok " + path);
  }
}

server.on("stream", (stream, headers) => {
  if (headers[":method"] !== "CONNECT" || headers[":protocol"] !== "websocket") {
    plain(stream, headers);
    return;
  }
  const path = headers[":path"].split("?")[0];
  if (path === "/refused-always") {
    plain(stream, headers);  // refused, and the try noted, as for an ordinary request
    return;
  }
  const answer = { ":status": 200 };
  const offered = headers["sec-websocket-protocol"];
  if (offered) answer["sec-websocket-protocol"] = offered.split(",")[0].trim();
  stream.respond(answer);
  if (path === "/headers") {
    stream.write(frame(0x1, Buffer.from(JSON.stringify(headers))));
  }
  let messages = 0;
  let closed = false;
  stream.on("error", () => {});
  stream.on("data", parser((fin, opcode, payload) => {
    if (closed) return;
    if (opcode === 0x8) {
      closed = true;
      stream.end(frame(0x8, payload.subarray(0, 2)));
      return;
    }
    if (opcode === 0x9) {
      stream.write(frame(0xa, payload));
      return;
    }
    if (opcode === 0x1 || opcode === 0x2) {
      if (messages === 0 && path === "/graceful") {
        // Before the echo: the client has seen the GOAWAY once the echo arrives.
        stream.session.goaway(http2.constants.NGHTTP2_NO_ERROR, stream.id);
      }
      stream.write(frame(opcode, payload));
      messages += 1;
      if (messages === 1 && path === "/reset") {
        setTimeout(() => stream.destroy(new Error("reset by the test peer")), 20);
      } else if (messages === 1 && path === "/drop") {
        setTimeout(() => stream.session.destroy(), 20);
      } else if (messages === 1 && path === "/goaway") {
        setTimeout(() => stream.session.goaway(http2.constants.NGHTTP2_ENHANCE_YOUR_CALM), 20);
      }
    }
  }));
  stream.on("end", () => {
    if (!closed) stream.end();
  });
});

server.on("sessionError", () => {});
server.on("session", (session) => {
  session.number = ++sessions;
  session.on("error", () => {});
  session.socket.on("error", () => {});
});
process.on("uncaughtException", (error) => {
  process.stderr.write(`node peer: ${error.stack}\n`);
});
server.listen(Number(port), "127.0.0.1", () => {
  process.stdout.write("listening\n");
});
