{
  "targets": [
    {
      "target_name": "autopsy_native",
      "sources": ["src/addon.cc", "src/dump-prep.cc", "src/core-writer.cc", "src/mmap-ring.cc", "src/js-stack.cc", "src/fatal-signals.cc", "src/fatal-core.cc", "src/heap-numbers.cc", "src/heartbeat.cc", "src/gc-watch.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS", "_GNU_SOURCE"],
      "cflags_cc": ["-std=c++17", "-O2", "-fno-exceptions", "-Wall", "-Wno-unused-parameter"],
      "ldflags": ["-Wl,-z,now"],
      "conditions": [
        ["OS!='linux' or target_arch!='x64'", { "sources!": ["src/dump-prep.cc", "src/core-writer.cc", "src/js-stack.cc", "src/fatal-signals.cc", "src/fatal-core.cc"], "defines": ["AUTOPSY_NO_CORE"] }]
      ]
    }
  ]
}
