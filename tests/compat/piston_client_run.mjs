// Drives the npm piston-client against a server: reads {"server", "calls": [...]} on stdin,
// prints the client's answers as one JSON array. A call is {"method": "runtimes"} or
// {"method": "execute", "language", "code", "config"} (piston-client's execute(language, code, config)).
import { piston } from "piston-client";

let input = "";
for await (const chunk of process.stdin) input += chunk;
const spec = JSON.parse(input);
const client = piston({ server: spec.server });
const answers = [];
for (const call of spec.calls) {
  if (call.method === "runtimes") {
    answers.push(await client.runtimes());
  } else {
    answers.push(await client.execute(call.language, call.code, call.config || {}));
  }
}
process.stdout.write(JSON.stringify(answers));
