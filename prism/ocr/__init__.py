"""On-screen text: detection (PP-OCR), reading by script (PP-OCR for Latin, Tesseract for
Korean), tracking across sampled frames into timed events with frame-exact bounds, and kinds."""
