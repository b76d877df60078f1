// Keyboard shortcuts inside the prompt boxes, as in A1111:
// Ctrl+Enter (Cmd+Enter on macOS) generates, Alt+Enter skips, Esc interrupts.

(function () {
    function tabOfPromptBox(target) {
        if (!(target instanceof HTMLTextAreaElement)) {
            return null;
        }
        const box = target.closest("[id$='_prompt'], [id$='_neg_prompt']");
        // The styles editor's boxes are prompts too, but generating from there would surprise.
        return box && !box.closest(".popup-dialog") ? box.id.split("_")[0] : null;
    }

    function press(id) {
        const button = sduiRoot().querySelector("#" + id);
        if (button && !button.disabled) {
            button.click();
            return true;
        }
        return false;
    }

    document.addEventListener("keydown", (event) => {
        const tab = tabOfPromptBox(event.target);
        if (!tab || event.isComposing) {
            return;
        }
        let handled = false;
        if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
            // Generate is hidden while this tab's job runs: Ctrl+Enter then does nothing, as the button can't be hit.
            handled = sduiJobRunning(tab) || press(tab + "_generate");
        } else if (event.key === "Enter" && event.altKey) {
            handled = press(tab + "_skip");
        } else if (event.key === "Escape") {
            handled = press(tab + "_interrupt");
        }
        if (handled) {
            event.preventDefault();
        }
    });
})();
