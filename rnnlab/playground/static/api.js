// The JSON API under the page: every answer is {ok, status, data}; an error's data is {"error": "..."}.
"use strict";
window.rnnApi = (function () {
  async function call(url, options) {
    let response;
    try {
      response = await fetch(url, options);
    } catch (err) {
      return { ok: false, status: 0, data: { error: "the playground server does not answer (is it still running?)" } };
    }
    let data;
    try {
      data = await response.json();
    } catch (err) {
      data = { error: "the server answered " + response.status + " with no JSON" };
    }
    return { ok: response.ok, status: response.status, data: data };
  }
  return {
    info: function () { return call("/api/info"); },
    sample: function (query) { return call("/api/sample?" + new URLSearchParams(query).toString()); },
    read: function (body) {
      return call("/api/read", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body),
      });
    },
  };
})();
