"""Reading whole numbers (digits.numbers) with the shipped number model, through LiteRT: each hard
case of issue 13 with generated (MNIST test digits) or drawn images; the `read` CLI; the store's tasks."""

from __future__ import annotations

import json
import os
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from conftest import run_python
from dashboard_helpers import digits_on_paper, drawn_number, number_strokes, turned
from digits.data import load_test
from digits.numbers import NumberReading, number_reader, read_number
from digits.store import DEFAULT_NUMBER_VERSION, NUMBER_TASK, ModelStore, StoreError
from digits.synth_numbers import CATEGORIES, Style, make_numbers

CASES = 10  # generated numbers per case; the benchmark reads 2,000 (bench/read_numbers.py)
FLOOR = 6   # at least this many of the CASES must be read exactly. The shipped reader falls short of the issue's
# targets (its measured accuracy per category is in BENCHMARKS.md); this floor sits below what it
# reads today, far above what a broken strip, decoder or export reads (none), and above the naive
# segment-and-classify reader on touching digits and patterned paper.


@pytest.fixture(scope="module")
def reader():
    return number_reader(ModelStore(), DEFAULT_NUMBER_VERSION)


@pytest.fixture(scope="module")
def test_split():
    return load_test()


def numbers(test_split, category="apart", style=None, count=CASES, seed=7):
    return make_numbers(test_split.images, test_split.labels, count, seed, category, style)


def read_right(reader, images, labels) -> int:
    return sum(reader.read(image).number == label for image, label in zip(images, labels))


def sheared(image: np.ndarray, degrees: float) -> np.ndarray:
    """The picture slanted by `degrees` (paper-coloured where the shear uncovers nothing)."""
    picture = Image.fromarray(image)
    shear = np.tan(np.radians(degrees))
    h = picture.height
    return np.asarray(picture.transform(picture.size, Image.Transform.AFFINE, (1, shear, -shear * h / 2, 0, 1, 0),
                                        resample=Image.Resampling.BILINEAR, fillcolor=tuple(image[0, 0].tolist())))


def test_importing_the_reader_and_reading_a_number_never_import_tensorflow():
    code = ("import sys; import numpy as np; from digits.numbers import read_number; "
            "r = read_number(np.zeros((250, 900, 4), np.uint8)); "
            "assert 'tensorflow' not in sys.modules, 'tensorflow imported'; print(repr(r.number))")
    result = run_python("-c", code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "''"


@pytest.mark.parametrize("category", ["apart", "touching", "separators", "patterned", "long"])
def test_generated_numbers_of_each_category_are_read(reader, test_split, category):
    """Digits well apart, touching/overlapping by up to a third of a width, with separators, a sign
    and a slash, on patterned paper with an underline, and 9-12 digits long."""
    made = numbers(test_split, category)
    assert read_right(reader, made.images, made.labels) >= FLOOR


@pytest.mark.parametrize("length", [1, 2, 3, 12])
def test_numbers_of_one_to_twelve_digits(reader, test_split, length):
    made = numbers(test_split, style=replace(CATEGORIES["apart"], digits=(length, length)))
    assert {len(label) for label in made.labels} == {length}
    assert read_right(reader, made.images, made.labels) >= FLOOR


@pytest.mark.parametrize("degrees", [-10, 10])
def test_numbers_written_on_a_slant(reader, test_split, degrees):
    made = numbers(test_split, seed=8)
    assert read_right(reader, [sheared(image, degrees) for image in made.images], made.labels) >= FLOOR


@pytest.mark.parametrize("degrees", [-10, 10])
def test_numbers_written_uphill_or_downhill_are_read(reader, test_split, degrees):
    """The line turned by 10 degrees either way: 12 digits then filled a band three digits tall,
    the strip shrank them, and few were read; the line is now put level first."""
    made = numbers(test_split, style=replace(CATEGORIES["long"], digits=(12, 12), tilt=0))
    assert read_right(reader, [turned(image, degrees) for image in made.images], made.labels) >= FLOOR


def test_the_boxes_of_a_number_written_on_a_slant_are_on_its_digits(reader):
    """Read levelled, boxed in the turned picture's own pixels: each digit's box holds where its
    digit went when the picture was turned."""
    canvas = drawn_number("4507", origin=(0.1, 0.3))[..., :3].copy()
    level = reader.read(canvas)
    assert level.number == "4507"
    degrees = 9
    picture = turned(canvas, degrees)
    reading = reader.read(picture)
    assert reading.number == "4507"
    (h, w), (new_h, new_w) = canvas.shape[:2], picture.shape[:2]
    c, s = np.cos(np.radians(degrees)), np.sin(np.radians(degrees))
    for before, after in zip(level.digits, reading.digits):
        x, y, bw, bh = before.box
        dx, dy = x + bw / 2 - w / 2, y + bh / 2 - h / 2                 # the digit's centre, from the middle
        cx, cy = new_w / 2 + c * dx + s * dy, new_h / 2 - s * dx + c * dy   # turned anticlockwise on screen
        ax, ay, aw, ah = after.box
        assert ax <= cx <= ax + aw and ay <= cy <= ay + ah
        assert aw < 1.5 * bw + 0.3 * bh and ah < 1.5 * bh                # a digit's box, not the line's


def test_digits_of_uneven_size_and_baseline(reader, test_split):
    made = numbers(test_split, style=Style(digits=(5, 5), gap=(0.15, 0.5), size=0.3, baseline=0.2, separators=0,
                                          currency=0, slash=0, underline=0, strike=0, papers=("plain",),
                                          dark_paper=0, uneven_light=0, noise=0, blur=0, jpeg=0, broken=0))
    assert read_right(reader, made.images, made.labels) >= FLOOR


@pytest.mark.parametrize("paper", ["coloured", "ruled", "guilloche", "dots", "hatching"])
def test_dark_ink_on_coloured_ruled_and_patterned_paper(reader, test_split, paper):
    style = Style(digits=(5, 5), gap=(0.1, 0.5), separators=0, currency=0, slash=0, underline=0, strike=0,
                  papers=(paper,), dark_paper=0, uneven_light=0)
    made = numbers(test_split, style=style)
    assert read_right(reader, made.images, made.labels) >= FLOOR


def test_photos_with_uneven_light_and_light_ink_on_dark(reader, test_split):
    made = numbers(test_split, seed=9)
    photos = [(image * np.linspace(1.0, 0.4, image.shape[1])[None, :, None]).astype(np.uint8)  # darker to the right
              for image in made.images]
    assert read_right(reader, photos, made.labels) >= FLOOR
    assert read_right(reader, [255 - image for image in made.images], made.labels) >= FLOOR



def test_dark_ink_on_grey_paper_in_dim_light(reader, test_split):
    """Paper that comes out darker than mid-grey (coloured paper photographed in dim light) still
    carries dark ink: the ink is where the grey levels have their long tail, not the border's opposite."""
    style = replace(CATEGORIES["apart"], papers=("coloured",))
    made = numbers(test_split, style=style, seed=11)
    dim = [(image * 0.45).astype(np.uint8) for image in made.images]
    assert read_right(reader, dim, made.labels) >= FLOOR


def in_a_box(image: np.ndarray, pad: int, line: int, grey: int) -> np.ndarray:
    """A number with a printed box drawn around it, `pad` pixels of paper inside, as an amount's
    box on a cheque or form cut out with the number."""
    from PIL import ImageDraw

    paper = tuple(int(v) for v in np.median(image.reshape(-1, 3), axis=0))
    height, width = image.shape[:2]
    boxed = Image.new("RGB", (width + 2 * pad, height + 2 * pad), paper)
    boxed.paste(Image.fromarray(image), (pad, pad))
    ImageDraw.Draw(boxed).rectangle([1, 1, boxed.width - 2, boxed.height - 2], outline=(grey,) * 3, width=line)
    return np.asarray(boxed)


@pytest.mark.parametrize("pad, line, grey", [(3, 2, 30), (12, 1, 150), (25, 4, 90)])
def test_a_number_in_a_printed_box_is_read_without_the_box_s_sides(reader, test_split, pad, line, grey):
    """The box's upright sides are neither read as 1s nor make the strip the box's height; dark
    or light print, a thin or thick line, the number close to it or far."""
    generated = numbers(test_split, "apart")
    plain = read_right(reader, generated.images, generated.labels)
    boxed = [in_a_box(image, pad, line, grey) for image in generated.images]
    assert read_right(reader, boxed, generated.labels) >= plain - 1 >= FLOOR
    reading = reader.read(boxed[0])
    assert all(pad // 2 < d.box[0] and d.box[0] + d.box[2] < boxed[0].shape[1] - pad // 2 for d in reading.digits)


def test_digits_written_one_per_box_of_a_comb_field_are_read_without_the_walls(reader, test_split):
    """A postcode on a form: a row of printed boxes, one digit in each. The walls between the
    boxes (shorter than the image: the row has paper above and below) are not read as 1s."""
    from PIL import ImageDraw

    cell, count = 40, 5
    right = 0
    for start in range(0, 5 * count, count):
        form = Image.new("L", (cell * count + 20, cell + 30), 255)
        draw = ImageDraw.Draw(form)
        for i in range(count):
            form.paste(Image.fromarray(255 - test_split.images[start + i]), (10 + i * cell + 6, 15 + 6))
            draw.rectangle([10 + i * cell, 15, 10 + (i + 1) * cell, 15 + cell], outline=80, width=2)
        truth = "".join(str(d) for d in test_split.labels[start:start + count])
        right += reader.read(np.asarray(form)).number == truth
    assert right >= 4


def test_a_one_as_tall_as_a_number_cropped_tight_is_not_taken_for_a_box_side(reader):
    """Upright 1s reaching the top and bottom of a tight crop, beside digits as tall: still digits."""
    for text in ("141", "1171", "11"):
        canvas = drawn_number(text)
        rows, cols = np.flatnonzero(canvas[..., 0].max(axis=1) > 0), np.flatnonzero(canvas[..., 0].max(axis=0) > 0)
        tight = canvas[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
        assert reader.read(tight).number == reader.read(canvas).number == text


@pytest.mark.parametrize("text", ["21", "41", "71", "2101"])
@pytest.mark.parametrize("pen", [8, 14, 20])
def test_a_last_1_drawn_as_one_thin_upright_stroke_is_read(reader, text, pen):
    """The network takes a thin straight stroke after a number for a cheque's slash and skips it;
    upright, as tall as the digits and a 1 to the digit model, it is read as the 1 it is."""
    reading = reader.read(drawn_number(text, pen=pen))
    assert reading.number == text
    assert reading.digits[-1].confidence >= 0.9 and reading.digits[-1].box[0] > reading.digits[-2].box[0]


def test_a_slash_after_a_number_is_still_not_a_1(reader):
    """A slash leans and is taller than the digits ('/' or '/-' after an amount): not read."""
    from PIL import ImageDraw

    canvas = Image.fromarray(drawn_number("25", pen=10))
    draw = ImageDraw.Draw(canvas)
    top, bottom, x = 0.2 * 250 - 12, 0.8 * 250 + 12, 0.05 * 900 + 2 * 0.85 * 0.6 * 250 + 20   # after the 5
    draw.line([(x + 0.35 * (bottom - top), top), (x, bottom)], fill=(255, 255, 255, 255), width=10)
    assert reader.read(np.asarray(canvas)).number == "25"
    draw.line([(x + 40, (top + bottom) / 2), (x + 90, (top + bottom) / 2)], fill=(255, 255, 255, 255), width=10)  # '/-'
    assert reader.read(np.asarray(canvas)).number == "25"


def amounts_on_forms(test_split, lead: int, mark, tail: int = 74):
    """CASES forms, each five MNIST test digits written dark on white paper `lead` pixels in, and
    `mark(draw, end)` writing what stands around them (`end`: the digits' right edge); with their truths."""
    from PIL import ImageDraw

    for start in range(0, 5 * CASES, 5):
        form = Image.new("L", (lead + 6 + 5 * 28 + tail, 60), 255)
        for i in range(5):
            form.paste(Image.fromarray(255 - test_split.images[start + i]), (lead + 6 + 28 * i, 16))
        mark(ImageDraw.Draw(form), lead + 6 + 5 * 28)
        yield np.asarray(form), "".join(str(d) for d in test_split.labels[start:start + 5])


@pytest.mark.parametrize("before, after", [("R$", ""), ("EUR", ""), ("**", ""), ("", "**"), ("US$", "=")])
def test_printed_currency_prefixes_and_stars_are_not_read_as_digits(reader, test_split, before, after):
    """Printed before or after a handwritten amount on a cheque: a currency prefix (R$, EUR, US$)
    or stars and an equals sign guarding it against additions. None is a digit."""
    from PIL import ImageFont

    font = ImageFont.load_default(size=22)

    def printed(draw, end):
        draw.text((6, 18), before, font=font, fill=30)
        draw.text((end + 8, 18), after, font=font, fill=30)

    lead = round(font.getlength(before)) + 10 if before else 0
    assert read_right(reader, *zip(*amounts_on_forms(test_split, lead, printed))) >= FLOOR


@pytest.mark.parametrize("text", ["€170", "€4500", "€12345", "£73", "£4500"])
@pytest.mark.parametrize("pen", [8, 20])
def test_a_euro_or_pound_sign_written_by_hand_before_an_amount_is_not_read_as_a_digit(reader, text, pen):
    """A pen-drawn euro sign is a C with two bars, a 6 or an 8 to a reader that never saw one."""
    assert reader.read(drawn_number(text, pen=pen)).number == text[1:]


@pytest.mark.parametrize("sign", ["€", "£"])
def test_a_handwritten_currency_sign_before_handwritten_digits_on_a_form_is_not_read(reader, test_split, sign):
    """MNIST test digits after a euro or pound sign drawn by hand, 26 px tall, in dark ink."""
    def handwritten(draw, end):
        for stroke in number_strokes(sign, origin=(0, 0), height=1, aspect=1):
            draw.line([(6 + 26 * x, 18 + 26 * y) for x, y in stroke], fill=25, width=3, joint="curve")

    assert read_right(reader, *zip(*amounts_on_forms(test_split, 34, handwritten, tail=32))) >= FLOOR


def test_separators_and_marks_are_not_read_as_digits(reader, test_split):
    style = Style(digits=(4, 7), gap=(0.15, 0.5), separators=1.0, currency=1.0, slash=1.0, underline=0.5,
                  strike=0, papers=("plain",), dark_paper=0, uneven_light=0)
    made = numbers(test_split, style=style)
    readings = [reader.read(image) for image in made.images]
    assert sum(r.number == label for r, label in zip(readings, made.labels)) >= FLOOR
    assert all(len(r.number) <= len(label) for r, label in zip(readings, made.labels))


@pytest.mark.parametrize("text", ["170", "4500", "12345", "5", "73"])
def test_numbers_drawn_on_the_wide_canvas(reader, text):
    """Drawn with a round pen, light on dark, as the Number mode's canvas sends them: a 4 in two
    strokes and a 5 whose cap is a separate stroke are one digit each; "00" is one stroke."""
    assert reader.read(drawn_number(text)).number == text


def test_a_number_drawn_dark_on_light_paper_is_read_the_same(reader):
    image = drawn_number("4500", ink=(20, 20, 110), paper=(250, 240, 200))[..., :3]
    assert reader.read(image).number == "4500"


def test_a_digit_emitted_beside_its_ink_is_moved_onto_it_and_boxed_apart_from_its_neighbour():
    from digits.numbers import STRIP_HEIGHT, STRIP_WIDTH, Strip, _bounds, _box, _on_ink

    parts = np.zeros((STRIP_HEIGHT, STRIP_WIDTH), bool)
    parts[4:28, 10:14] = True    # a 1
    parts[4:28, 30:50] = True    # a 7, after an empty gap
    strip = Strip(parts.astype(np.float32), parts, (0.0, 0.0), 1.0)
    centres = _on_ink(strip, [2.0, 40.0])   # CTC emitted the 1 in the first frame, left of its stroke
    assert centres == [10.0, 40.0]
    bounds = _bounds(strip, centres)
    assert bounds[0] == 0 and 14 <= bounds[1] <= 30 and bounds[2] == STRIP_WIDTH   # split in the empty gap
    assert _box(strip, 0, bounds[1], 10.0) == (10, 4, 4, 24)
    assert _box(strip, bounds[1], STRIP_WIDTH, 40.0) == (30, 4, 20, 24)
    assert _on_ink(strip, [60.0, 20.0]) == [49.0, 49.0], "order is kept"
    assert _on_ink(strip, []) == []


def test_each_digit_has_a_box_around_its_ink_and_a_confidence(reader):
    canvas = drawn_number("170", origin=(0.1, 0.25))
    reading = reader.read(canvas)
    assert isinstance(reading, NumberReading) and reading.number == "170"
    # The whole number's confidence (CTC's best path) is at most its least sure digit's.
    assert 0 < reading.confidence <= min(d.confidence for d in reading.digits) + 1e-9
    lefts = [d.box[0] for d in reading.digits]
    assert lefts == sorted(lefts)
    ink = canvas[..., 0] > 128
    for digit in reading.digits:
        x, y, w, h = digit.box
        assert 0 < digit.confidence <= 1 and digit.unsure == (digit.confidence < 0.6)
        assert 0 <= x and x + w <= 900 and 0 <= y and y + h <= 250
        inside = ink[y:y + h, x:x + w].sum()
        assert inside > 0.6 * ink[:, max(0, x - 5):x + w + 5].sum()  # the box holds the digit's ink
        assert 0.4 * 250 < h < 0.8 * 250                              # a digit 0.6 of the canvas tall
    assert reading.digits[0].box[2] < reading.digits[2].box[2]        # a 1 is narrower than a 0


def test_a_digit_too_faint_to_be_found_is_read_and_boxed_where_it_is(reader, test_split):
    """A first or last digit at a fifth of the pen's contrast: read, and boxed around its own
    faint ink, not moved onto its solid neighbour's."""
    for strengths, faint in (([1, 1, 1, 0.2], 3), ([0.2, 1, 1, 1], 0)):
        picture, rights = digits_on_paper(test_split, strengths)
        reading = reader.read(picture)
        assert reading.number == "".join(str(d) for d in test_split.labels[:4])
        x, _, w, _ = reading.digits[faint].box
        assert rights[faint] - 28 <= x and x + w <= rights[faint] + 2 and w >= 8


def ctc_logits(strip, number: str, leaning: dict[int, int], step: int = 30) -> np.ndarray:
    """Logits [FRAMES, 11] as the network would give for `number` drawn by `digits_on_paper`: each
    digit emitted in the frame over its ink, sure of it, except the digits in `leaning` (index ->
    the digit CTC leans to, 55% against 45%)."""
    from digits.numbers import BLANK, FRAME_STRIDE, FRAMES

    logits = np.zeros((FRAMES, BLANK + 1), np.float32)
    logits[:, BLANK] = 12.0
    for i, digit in enumerate(int(d) for d in number):
        column = (20 + step * i + 14 - strip.origin[0]) / strip.scale       # the digit's middle, in the strip
        frame = logits[int(column) // FRAME_STRIDE]
        frame[:] = -12.0
        frame[digit] = 12.0
        if i in leaning:
            frame[digit], frame[leaning[i]] = 0.0, 0.2
    return logits


class CountingDigitModel:
    """The shipped digit model, counting the digits it is asked to read."""

    def __init__(self):
        from digits.predict import version_predictor

        self.predictor, self.asked = version_predictor(ModelStore(), "default"), []

    def __call__(self, fields: np.ndarray) -> np.ndarray:
        self.asked.append(len(fields))
        return self.predictor.probabilities(fields)


def test_a_digit_the_network_is_unsure_of_is_read_again_by_the_digit_model_where_digits_stand_apart(test_split):
    from digits.numbers import SECOND_OPINION, number_strip, reading

    picture, _ = digits_on_paper(test_split, [1, 1, 1])              # MNIST's first test digits: 7 2 1, apart
    truth = "".join(str(d) for d in test_split.labels[:3])
    strip = number_strip(picture)
    logits = ctc_logits(strip, truth, leaning={1: 3})                 # the network leans to a 3 for the 2
    alone = reading(strip, logits)
    assert alone.number == "731" and alone.digits[1].confidence < SECOND_OPINION

    digit_model = CountingDigitModel()
    checked = reading(strip, logits, digit_model)
    assert checked.number == truth and digit_model.asked == [1]      # only the unsure digit is asked about
    assert checked.digits[1].confidence > 0.9 and checked.digits[1].box == alone.digits[1].box
    assert checked.confidence > alone.confidence and checked.confidence <= checked.digits[1].confidence

    sure = reading(strip, ctc_logits(strip, truth, leaning={}), digit_model)
    assert sure.number == truth and digit_model.asked == [1], "a digit the network is sure of is not asked about"


def test_the_digit_model_is_not_asked_about_digits_that_touch(test_split):
    """Where the ink's blobs and the network disagree on how many digits there are (two digits
    written into each other), the digit model would see a digit and a half: the network's reading stands."""
    from digits.numbers import number_strip, reading

    picture, _ = digits_on_paper(test_split, [1, 1, 1], step=16)     # 7, 2 and 1 written into each other
    strip = number_strip(picture)
    logits = ctc_logits(strip, "721", leaning={1: 3}, step=16)
    digit_model = CountingDigitModel()
    assert reading(strip, logits, digit_model).number == reading(strip, logits).number == "731"
    assert digit_model.asked == []


def test_the_reader_takes_its_second_opinion_from_the_active_digit_version(store):
    """The digit version the Predict page serves (a user's own, once they activate it) is the one
    asked; none when the caller wants the network alone."""
    import shutil

    from digits.store import DEFAULT_VERSION, SHIPPED

    assert number_reader(store).digit_version == DEFAULT_VERSION
    shutil.copytree(SHIPPED[DEFAULT_VERSION], store.root / "my-hand")
    meta = json.loads((store.root / "my-hand" / "meta.json").read_text())
    (store.root / "my-hand" / "meta.json").write_text(json.dumps({**meta, "id": "my-hand"}))
    store.activate("my-hand")
    mine = number_reader(store)
    assert mine.digit_version == "my-hand" and mine.read(drawn_number("73")).number == "73"
    assert number_reader(store, second_opinion=False).digit_version is None


def test_an_empty_canvas_and_a_blank_page_read_as_no_number(reader):
    assert reader.read(np.zeros((250, 900, 4), np.uint8)).number == ""
    assert reader.read(np.full((250, 900, 3), 255, np.uint8)).number == ""


def test_read_number_accepts_files_bytes_and_arrays_and_refuses_a_broken_file(tmp_path):
    path = tmp_path / "number.png"
    Image.fromarray(drawn_number("73")).save(path)
    assert read_number(path).number == read_number(path.read_bytes()).number == "73"
    from digits.preprocessing import ImageError

    with pytest.raises(ImageError):
        read_number(path.read_bytes()[:100])


def test_the_store_keeps_digit_and_number_versions_apart(store):
    info = store.info(DEFAULT_NUMBER_VERSION)
    assert info.task == NUMBER_TASK and not info.broken and info.active
    assert store.info("default").task == "digit" and store.active() == "default"
    assert store.active(NUMBER_TASK) == DEFAULT_NUMBER_VERSION
    with pytest.raises(StoreError, match="reads single digits"):
        number_reader(store, "default")
    with pytest.raises(StoreError, match="cannot be deleted"):
        store.delete(DEFAULT_NUMBER_VERSION)


def test_cli_read_plain_and_json_and_exit_code(tmp_path):
    good, blank, broken = tmp_path / "amount.png", tmp_path / "blank.png", tmp_path / "broken.png"
    Image.fromarray(drawn_number("4500", ink=(10, 10, 10), paper=(255, 255, 255))).save(good)
    Image.new("RGB", (300, 100), "white").save(blank)
    broken.write_bytes(good.read_bytes()[:120])

    plain = run_python("-m", "digits", "read", str(good), str(blank))
    assert plain.returncode == 0, plain.stderr
    lines = plain.stdout.strip().splitlines()
    assert lines[0].startswith(f"{good}: 4500 (confidence 0.") and lines[1] == f"{blank}: no digits"

    result = run_python("-m", "digits", "read", str(good), str(broken), str(blank), "--json")
    assert result.returncode == 1  # one file was unreadable
    rows = json.loads(result.stdout)
    assert [set(row) for row in rows] == [{"file", "number", "confidence", "digits", "error"}] * 3
    assert rows[0]["number"] == "4500" and rows[0]["error"] is None
    assert [d["digit"] for d in rows[0]["digits"]] == [4, 5, 0, 0]
    assert all(len(d["box"]) == 4 and 0 < d["confidence"] <= 1 for d in rows[0]["digits"])
    assert rows[1]["error"] and "damaged or truncated" in rows[1]["error"]
    assert rows[2]["number"] == "" and rows[2]["digits"] == [] and rows[2]["error"] is None

    wrong_kind = run_python("-m", "digits", "read", str(good), "--model", "default")
    assert wrong_kind.returncode == 1 and "reads single digits" in wrong_kind.stderr


def test_the_shipped_number_model_s_meta_tells_the_truth_through_litert(reader):
    """meta.json's test figures (computed by Keras at the end of training) are what LiteRT's
    model.tflite reads on the same synthetic test numbers; README gives the command that made it."""
    from conftest import ROOT
    from digits.number_evaluation import EVALUATION_NUMBERS, network_reads, numbers_for_test, read_categories

    meta = ModelStore().meta(DEFAULT_NUMBER_VERSION)
    assert meta["task"] == NUMBER_TASK and meta["command"] in (ROOT / "README.md").read_text()
    [result] = read_categories(network_reads(reader.logits_batch),   # the network alone, as Keras read it
                               {"apart": numbers_for_test("apart", EVALUATION_NUMBERS)}).values()
    assert result.sequence_accuracy == pytest.approx(meta["test"]["categories"]["apart"]["sequence_accuracy"],
                                                     abs=2 / EVALUATION_NUMBERS)


def test_cli_evaluate_reads_the_test_numbers_as_served():
    """`digits evaluate` on a number version: each category's figures, read with the active digit
    version's second opinion (as `read` and the Predict page read)."""
    from digits.number_evaluation import CATEGORY_LABELS

    result = run_python("-m", "digits", "evaluate", "--model", DEFAULT_NUMBER_VERSION, "--json")
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout)
    assert report["task"] == NUMBER_TASK and report["second_opinion"] == "default"
    assert list(report["categories"]) == list(CATEGORY_LABELS)
    assert all(0.9 < c["sequence_accuracy"] <= 1 and c["numbers"] == 400 for c in report["categories"].values())


def test_train_py_task_number_trains_a_number_version_with_live_sequence_metrics(store):
    """A tiny real run (200 training images, one epoch): the same run machinery as digits (event
    log, lock, the store's atomic save), a version that says it reads numbers, and `read` uses it."""
    from digits.number_training import NUMBER_GLYPHS
    from digits.runs import read_events, read_lock

    refused = run_python("train.py", "--task", "number", "--preset", "strong")
    assert refused.returncode == 2 and "--task number uses the 'number' preset" in refused.stderr

    result = run_python("train.py", "--task", "number", "--limit", "200", "--epochs", "1", "--augment",
                        "--name", "tiny-numbers")
    assert result.returncode == 0, result.stderr[-2000:]
    info = store.info("tiny-numbers")
    assert info.task == NUMBER_TASK and not info.broken and store.tflite("tiny-numbers") is not None
    assert not info.active and store.active(NUMBER_TASK) == DEFAULT_NUMBER_VERSION  # not asked to activate
    assert info.meta["command"] == "python train.py --task number --limit 200 --epochs 1 --augment --name tiny-numbers"
    assert info.meta["augmentation"]["elastic_prob"] == NUMBER_GLYPHS.elastic_prob   # it says how digits were warped
    [epoch] = [e for e in read_events(store.runs_dir / "tiny-numbers") if e["event"] == "epoch"]
    assert 0 <= epoch["val_accuracy"] <= 1 and 0 <= epoch["val_digit_error"] and epoch["loss"] > 0
    assert set(info.meta["test"]["categories"]) >= {"apart", "touching", "separators", "patterned", "long"}
    assert read_lock(store) is None
    store.activate("tiny-numbers")
    assert store.active(NUMBER_TASK) == "tiny-numbers" and store.active() == "default"  # digits keep theirs
    drawn = store.root / "drawn.png"
    Image.fromarray(drawn_number("73")).save(drawn)
    read = run_python("-m", "digits", "read", "--json", str(drawn))
    assert read.returncode == 0 and json.loads(read.stdout)[0]["error"] is None

    # Training continues from a number version with that version's own saved network.
    more = run_python("train.py", "--task", "number", "--from", "tiny-numbers", "--limit", "200", "--epochs", "1",
                      "--name", "tiny-numbers-more")
    assert more.returncode == 0, more.stderr[-2000:]
    continued = store.info("tiny-numbers-more")
    assert continued.task == NUMBER_TASK and not continued.broken and store.tflite("tiny-numbers-more") is not None
    assert continued.meta["config"]["from_version"] == "tiny-numbers"
    assert continued.meta["augmentation"] is None   # the preset's default: digits as MNIST has them
    assert continued.meta["architecture"]["parameters"] == info.meta["architecture"]["parameters"]



def copy_shipped_number(store: ModelStore, name: str, **meta_changes) -> None:
    """The shipped number reader copied into the store as `name`, its meta.json changed."""
    import shutil

    from digits.store import SHIPPED

    folder = store.root / name
    shutil.copytree(SHIPPED[DEFAULT_NUMBER_VERSION], folder)
    meta = json.loads((folder / "meta.json").read_text())
    (folder / "meta.json").write_text(json.dumps({**meta, "id": name, **meta_changes}))


def test_the_number_pointer_is_read_as_warily_as_the_digit_one(store, tmp_path):
    """ACTIVE-number: garbage, a link or a FIFO falls back to the shipped number reader; a valid
    pointer is followed; the digit model's ACTIVE is left alone."""
    copy_shipped_number(store, "mine-number")
    outside = tmp_path / "outside"
    outside.write_text("mine-number\n")
    pointer = store.root / "ACTIVE-number"
    for tamper in (lambda: pointer.write_bytes(b"mine-number\xff\n"), lambda: pointer.symlink_to(outside),
                   lambda: os.mkfifo(pointer), lambda: pointer.write_text("../mine-number\n")):
        pointer.unlink(missing_ok=True)
        tamper()
        assert store.active(NUMBER_TASK) == DEFAULT_NUMBER_VERSION and store.active() == "default"
    pointer.unlink()
    store.activate("mine-number")
    assert pointer.read_text() == "mine-number\n" and not (store.root / "ACTIVE").exists()
    assert store.active(NUMBER_TASK) == "mine-number" and number_reader(store).read(drawn_number("73")).number == "73"


def test_a_version_is_checked_against_its_own_task_s_signature(store):
    """A number model that says it reads digits (no task) is broken with the reason when loaded and
    served; a task the app does not know breaks the version; a number version loads as one."""
    from digits.predict import version_predictor

    copy_shipped_number(store, "no-task")
    meta = json.loads((store.root / "no-task" / "meta.json").read_text())
    del meta["task"]
    (store.root / "no-task" / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(StoreError, match=r"takes float32 \[N, 32, 256, 1\]; the app gives float32 \[N, 28, 28, 1\]"):
        store.load("no-task")
    with pytest.raises((StoreError, ValueError), match=r"\[N, 28, 28, 1\]"):
        version_predictor(store, "no-task")
    copy_shipped_number(store, "letters", task="letters")
    assert "task = 'letters' is not one of digit, number" in store.info("letters").error
    model = store.load(DEFAULT_NUMBER_VERSION)
    assert tuple(model.input_shape[1:]) == (32, 256, 1) and tuple(model.output_shape[1:]) == (64, 11)
