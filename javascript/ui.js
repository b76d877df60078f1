// Page helpers shared by the other scripts, and what runs once gradio has built the page:
// the --theme colour scheme, the tooltips of tool buttons and the hints of labels (hints.js).

function sduiRoot() {
    const app = document.querySelector("gradio-app");
    return (app && app.shadowRoot) || document;
}

// Tell gradio a script changed a textbox, exactly as if the user had typed it.
function sduiUpdateInput(element) {
    element.dispatchEvent(new Event("input", { bubbles: true }));
}

// --theme light|dark fixes the colour scheme unless the URL asks for one with ?__theme=.
function sduiApplyTheme(theme) {
    const url = new URL(window.location.href);
    if (!theme || url.searchParams.has("__theme")) {
        return;
    }
    document.body.classList.toggle("dark", theme === "dark");
}

const SDUI_TOOLTIPS = {
    "🎲️": "Set seed to -1: a new random seed is used every time",
    "♻️": "Reuse the seed of the selected image (or the first one) from the last generation",
    "⇅": "Swap width and height",
    "🔄": "Refresh the list",
    "↙️": "Read generation parameters from the prompt, or from the last generation if the prompt is empty",
    "🗑️": "Clear the prompt and the negative prompt",
    "📋": "Apply all selected styles to the prompts (and clear the selection)",
    "🖌️": "Edit styles: create, change or delete a style",
    "📝": "Copy the prompts of this tab into the style",
    "📂": "Show the folder where images are saved",
    "🗃️": "Save the images into log/images and download them as one zip file",
    "🖼️": "Send the picture and its parameters to the img2img tab",
    "🎨️": "Send the picture and its parameters to img2img's Inpaint sub-tab, to paint a mask over the part to change",
    "💥": "Run the preprocessor and show the detected map",
    "📥": "Use the output image picked in the gallery (or the first one) as this unit's control image",
};

// Emoji are looked up without variation selectors (U+FE0F), which some keyboards and files omit.
function sduiTooltipFor(text) {
    const bare = text.replace(/\uFE0F/g, "");
    for (const [key, tip] of Object.entries(SDUI_TOOLTIPS)) {
        if (key.replace(/\uFE0F/g, "") === bare) {
            return tip;
        }
    }
    return undefined;
}
const SDUI_ID_TOOLTIPS = {
    "save_txt2img": "Save the selected image (all of them when none or the grid is selected) into log/images, " +
        "with its parameters in log/images/log.csv",
};
const SDUI_NOT_YET = { img2img: "img2img", inpaint: "inpaint", extras: "Extras" };

function sduiNotYetTitle(element) {
    for (const [key, tab] of Object.entries(SDUI_NOT_YET)) {
        if ((element.id || "").includes(key)) {
            return "Not available: this version cannot send pictures to " + tab + " yet; save the picture and drop it there";
        }
    }
    return "Not available yet";
}

function sduiSetTooltips() {
    for (const element of sduiRoot().querySelectorAll("button:not([title])")) {
        const notYet = element.closest(".sdui-not-yet") || element.classList.contains("sdui-not-yet");
        const holder = element.closest("[id]");
        const byId = SDUI_ID_TOOLTIPS[element.id] || (holder && SDUI_ID_TOOLTIPS[holder.id]);
        const text = notYet ? sduiNotYetTitle(element.id ? element : holder || element)
            : byId || sduiTooltipFor(element.textContent.trim());
        if (text) {
            element.title = text;
        }
    }
}

// While a tab's job waits or runs, its Interrupt and Skip replace Generate (as in A1111); a
// Ctrl+Enter is ignored meanwhile (javascript/hotkeys.js), as the hidden button could not be clicked.
function sduiJobStarted(tab) {
    const box = sduiRoot().querySelector("#" + tab + "_generate_box");
    if (box) {
        box.classList.add("sdui-busy");
    }
}

function sduiJobEnded(tab) {
    const box = sduiRoot().querySelector("#" + tab + "_generate_box");
    if (box) {
        box.classList.remove("sdui-busy");
    }
}

function sduiJobRunning(tab) {
    const box = sduiRoot().querySelector("#" + tab + "_generate_box");
    return !!box && box.classList.contains("sdui-busy");
}

window.sduiOnLoad = function () {
    const options = window.sduiOptions || {};
    sduiApplyTheme(options.theme);
    sduiSetTooltips();
    sduiSetHints();
    // Tabs render their content when first opened: give new buttons their tooltips too.
    let pending = false;
    new MutationObserver(() => {
        if (!pending) {
            pending = true;
            requestAnimationFrame(() => { pending = false; sduiSetTooltips(); sduiSetHints(); });
        }
    }).observe(document.body, { childList: true, subtree: true });
};
