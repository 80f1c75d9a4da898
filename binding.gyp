{
  "targets": [
    {
      "target_name": "senet",
      "sources": [
        "<!@(node -p \"require('fs').readFileSync('native/sources.txt','utf8').split(/\\s+/).filter(s => s.endsWith('.cc')).join(' ')\")"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "native"
      ],
      "defines": [
        "NAPI_VERSION=8",
        "NAPI_CPP_EXCEPTIONS",
        "SENET_VERSION=\"<!(node -p \"require('./package.json').version\")\""
      ],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++14", "-std=gnu++17"],
      "cflags_cc": ["-std=c++17", "-O3", "-mavx2", "-mfma", "-fopenmp", "-fexceptions", "-frtti", "-Wno-unused-parameter"],
      "libraries": ["-ldnnl", "-fopenmp", "-Wl,-rpath,'$$ORIGIN'"]
    }
  ]
}
