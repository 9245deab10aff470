// Submits the form_post page's form once the page has loaded (the button does the same by hand).
"use strict";
document.getElementById("deliver").submit();
