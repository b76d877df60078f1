// Hover hints on labels and buttons, as A1111's hints.js gives them, in words that also help a
// newcomer. Matched by the element's own text (a label's words, a button's caption).

const SDUI_HINTS = {
    "Sampling method": "The method that turns noise into a picture step by step. Euler a and DPM++ 2M are good first choices; some need more steps than others. DPM adaptive ignores the step count and picks its own (it can take much longer).",
    "Schedule type": "How the noise level falls from step to step. Automatic uses the sampler's usual schedule.",
    "Sampling steps": "How many times the picture is refined. More steps take longer and change less and less; 20-30 is usually enough.",
    "Width": "Picture width in pixels (a multiple of 8). Models draw best near the size they learned: 512 for SD 1.x, 1024 for SDXL, 64 for the demo model.",
    "Height": "Picture height in pixels (a multiple of 8). Models draw best near the size they learned: 512 for SD 1.x, 1024 for SDXL, 64 for the demo model.",
    "Batch count": "How many batches to make, one after another.",
    "Batch size": "How many pictures to make at once in each batch (faster per picture, but needs more memory).",
    "CFG Scale": "Classifier Free Guidance: how strictly the picture follows the prompt. 1 ignores the prompt; 5-8 is typical; above about 10 colours burn and details turn harsh.",
    "Denoising strength": "How much of the input picture is redrawn: 0 keeps it unchanged, 1 replaces it completely. 0.4-0.75 keeps the composition and changes the details.",
    "Seed": "The number that fixes the starting noise: the same seed with the same settings gives the same picture. -1 picks a new random seed each time.",
    "Variation seed": "A second seed whose noise is blended in, to get variations of a picture you like.",
    "Variation strength": "How much of the variation seed is blended in: 0 is the main seed's picture, 1 the variation seed's.",
    "Resize seed from width": "Make the noise as if the picture had this width, so a seed keeps its look at another size.",
    "Resize seed from height": "Make the noise as if the picture had this height, so a seed keeps its look at another size.",
    "Clip skip": "Which layer of the text encoder reads the prompt, counted from the end: 1 is normal; 2 suits many anime-style models.",
    "Stable Diffusion checkpoint": "The model file that draws the pictures. Put .safetensors files into models/Stable-diffusion and press the refresh button.",
    "SD VAE": "The part that turns the model's internal picture into pixels. Automatic uses the one built into the checkpoint.",
    "Styles": "Saved pieces of prompt and negative prompt, added to yours when you generate.",
    "Tiling": "Make a picture whose edges join seamlessly when repeated, like a texture.",
    "Hires. fix": "Draw small first, then upscale and redraw the details: large pictures without doubled heads.",
    "Script": "Extra ways to generate, such as outpainting (extending the picture past its edges).",
    "Resize mode": "How the input picture is fitted to the new size when the proportions differ: stretch it, crop it, or fill the rest.",
    "Mask blur": "How many pixels the mask's edge is softened, so the redrawn part blends into the rest.",
    "Mask mode": "Inpaint masked redraws the painted part; Inpaint not masked redraws everything else.",
    "Masked content": "What the masked part starts from: original keeps the picture underneath (best for small changes); fill, latent noise and latent nothing start afresh.",
    "Inpaint area": "Whole picture redraws at the picture's size; Only masked cuts out the masked part, redraws it at full resolution and puts it back (more detail for small areas).",
    "Only masked padding, pixels": "How much of the surroundings is included around the mask when the inpaint area is Only masked.",
    "Override settings": "Settings used for this generation only (filled in when you paste parameters).",
    "Generate": "Make pictures from the prompt (Ctrl+Enter in a prompt box).",
    "Interrupt": "Stop this job; the pictures already finished are kept (Esc in a prompt box).",
    "Skip": "Stop the current picture and go on with the next one of the batch (Alt+Enter in a prompt box).",
    "Send to txt2img": "Send these parameters to the txt2img tab.",
    "Send to img2img": "Send the picture and its parameters to the img2img tab.",
    "Send to inpaint": "Send the picture and its parameters to img2img's Inpaint sub-tab, to paint a mask over the part to change.",
    "Send to extras": "Not available: this version cannot send pictures to Extras yet; save the picture and drop it there.",
    "Upscaler": "How the first picture is enlarged before its details are redrawn: Latent is fast and soft; ESRGAN-type upscalers keep edges sharp.",
    "Hires steps": "Sampling steps of the second (redrawing) pass; 0 uses the same number as Sampling steps.",
    "Upscale by": "How many times larger the final picture is than Width x Height.",
    "Resize width to": "Final width instead of Upscale by (0: keep the proportions from the height).",
    "Resize height to": "Final height instead of Upscale by (0: keep the proportions from the width).",
    "Hires checkpoint": "Another model for the second pass; Use same checkpoint keeps the current one.",
};

// Entries of an open dropdown: the sampler list's descriptions come from the server (sduiOptions).
function sduiSetOptionHints(root) {
    const samplers = (window.sduiOptions || {}).sampler_hints || {};
    for (const option of root.querySelectorAll("li[role='option'], ul.options > li")) {
        const hint = samplers[(option.getAttribute("aria-label") || option.textContent).trim()];
        if (hint && !option.title) {
            option.title = hint;
        }
    }
}

function sduiSetHints() {
    const root = sduiRoot();
    sduiSetOptionHints(root);
    // Label texts: gradio 6 draws them as span[data-testid=block-info] inside a label, or as the
    // accordion's and checkbox's own text.
    for (const element of root.querySelectorAll("span[data-testid='block-info'], .label-wrap > span, label > span, button")) {
        if (element.title) {
            continue;
        }
        const hint = SDUI_HINTS[element.textContent.trim()];
        if (hint) {
            element.title = hint;
        }
    }
}
