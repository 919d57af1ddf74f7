// Swagger UI over both APIs' OpenAPI documents. A key signed in to the console (this origin's
// sessionStorage) is filled in, so "Try it out" works at once.
import { loadConfig, session } from "./api.js";

const config = await loadConfig();
const key = session.key();
const ui = window.SwaggerUIBundle({
  urls: [
    { url: "/openapi.json", name: "predict API" },
    { url: `${config.ingest_url}/openapi.json`, name: "ingest API" },
  ],
  "urls.primaryName": "predict API",
  dom_id: "#swagger-ui",
  deepLinking: true,
  presets: [window.SwaggerUIBundle.presets.apis, window.SwaggerUIStandalonePreset],
  layout: "StandaloneLayout",
  persistAuthorization: false,
  onComplete: () => {
    if (key) ui.preauthorizeApiKey("ApiKey", key);
  },
});
document.getElementById("docs-auth").textContent = key
  ? "Signed in: your console key is filled in for “Try it out”."
  : "Not signed in: sign in to the console, or press Authorize and paste an API key.";
