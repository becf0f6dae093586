// The API documentation page: Swagger UI (served from static/vendor, never a CDN) on /api/v1/openapi.json.
document.addEventListener("DOMContentLoaded", function () {
  var root = document.getElementById("api-docs");
  if (!root || typeof window.SwaggerUIBundle !== "function") {
    return;
  }
  window.SwaggerUIBundle({
    url: root.dataset.specUrl,
    domNode: root,
    deepLinking: true,
    tryItOutEnabled: false,
    validatorUrl: null,
  });
});
