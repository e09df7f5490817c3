// Adds a chat bubble to the page that opens the assistant in an iframe.
//   <script src="https://qa.example/widget.js" data-token="TOKEN" defer></script>
// data-token: a bearer token (when the server requires one); data-position: "left" or "right".
// The page's origin must be listed in the server's frame_ancestors setting.
(function () {
  "use strict";
  const script = document.currentScript;
  if (!script || window.__ragWidget) return;
  window.__ragWidget = true;
  const base = new URL(".", script.src).href;
  const token = script.dataset.token || "";
  const side = script.dataset.position === "left" ? "left" : "right";
  const title = script.dataset.title || "Ask the news · اسأل الأخبار";

  const button = document.createElement("button");
  button.type = "button";
  button.id = "rag-widget-button";
  button.setAttribute("aria-label", title);
  button.title = title;
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("width", "28");
  svg.setAttribute("height", "28");
  const path = document.createElementNS("http://www.w3.org/2000/svg", "path");
  path.setAttribute("d", "M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z");
  path.setAttribute("fill", "currentColor");
  svg.appendChild(path);
  button.appendChild(svg);
  Object.assign(button.style, {
    position: "fixed", bottom: "20px", [side]: "20px", width: "56px", height: "56px", borderRadius: "50%",
    border: "0", background: "#2563eb", color: "#fff", cursor: "pointer", display: "flex", alignItems: "center", justifyContent: "center",
    boxShadow: "0 4px 14px rgba(0,0,0,.25)", zIndex: "2147483000",
  });

  const frame = document.createElement("iframe");
  frame.id = "rag-widget-frame";
  frame.title = title;
  frame.src = base + "embed" + (token ? "?token=" + encodeURIComponent(token) : "");
  frame.setAttribute("referrerpolicy", "no-referrer");
  Object.assign(frame.style, {
    position: "fixed", bottom: "86px", [side]: "20px", width: "min(400px, calc(100vw - 40px))", height: "min(560px, calc(100vh - 120px))",
    border: "1px solid #d4d4d8", borderRadius: "12px", background: "#fff", boxShadow: "0 8px 30px rgba(0,0,0,.2)",
    display: "none", zIndex: "2147483000",
  });

  button.addEventListener("click", function () {
    frame.style.display = frame.style.display === "none" ? "block" : "none";
  });
  function mount() { document.body.append(frame, button); }
  if (document.body) mount(); else document.addEventListener("DOMContentLoaded", mount);
})();
