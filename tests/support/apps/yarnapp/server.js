const http = require("http");
const fs = require("fs");

http
  .createServer((req, res) => {
    res.setHeader("Content-Type", "application/json");
    res.end(
      JSON.stringify({
        hello: "node",
        built: fs.readFileSync("built.txt", "utf8"),
        release: process.env.DEPLOYD_RELEASE,
      }),
    );
  })
  .listen(process.env.PORT, "127.0.0.1");
