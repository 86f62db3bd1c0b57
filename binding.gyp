{
  "targets": [
    {
      "target_name": "wireprobe",
      "sources": [
        "native/addon.cc",
        "native/addr.cc",
        "native/args.cc",
        "native/async_send.cc",
        "native/batch_rx.cc",
        "native/batch_tx.cc",
        "native/capabilities.cc",
        "native/clock.cc",
        "native/errors.cc",
        "native/inet_socket.cc",
        "native/links.cc",
        "native/neigh_dump.cc",
        "native/netlink.cc",
        "native/netlink_handle.cc",
        "native/netlink_job.cc",
        "native/netns.cc",
        "native/packet_socket.cc",
        "native/pmtu.cc",
        "native/route.cc",
        "native/route_dump.cc",
        "native/send_gate.cc",
        "native/socket_core.cc",
        "native/sockaddr.cc",
        "native/socket_fd.cc",
        "native/sockopts.cc",
        "native/tx_stamps.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS", "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS"],
      "cflags_cc": ["-std=c++17", "-O2", "-Wall", "-Wextra", "-fno-exceptions"],
      "libraries": ["-lpthread"]
    }
  ]
}
