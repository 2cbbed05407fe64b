// Swagger UI over this server's own OpenAPI document. A file, not an inline script: the page's
// Content-Security-Policy runs scripts from this origin only.
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "v1/openapi.json", // relative to /docs: this server, behind whatever prefix a proxy adds
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout", // no top bar: it would load any URL typed into it
    validatorUrl: null, // no badge fetched from validator.swagger.io
    persistAuthorization: false, // a token typed into "Authorize" is never written to localStorage
  });
});
