// Starts Swagger UI on this server's OpenAPI document. A file of its own because the page's
// Content-Security-Policy allows no inline script. The document URL is relative to this page,
// so the UI also works when a gateway mounts the service under a path prefix.
"use strict";
window.ui = SwaggerUIBundle({
  url: new URL("../swagger.yaml", document.baseURI).href,
  dom_id: "#swagger-ui",
  deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
  // The default validator badge loads an image from validator.swagger.io: no external requests.
  validatorUrl: null,
  // Our API has GET (and HEAD) only.
  supportedSubmitMethods: ["get", "head"],
});
