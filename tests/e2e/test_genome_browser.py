"""The genome browser (igv.js) in the file drawer: a BAM and a VCF against a FASTA of the same project, read
from S3 in byte ranges through presigned URLs; a BAM without its index is refused plainly."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import httpx
import pysam  # the dev extra: makes the FASTA/BAM/VCF and their indexes
import pytest

from tests.e2e.conftest import Lab, LiveServer, choose_dataset, file_row, login
from tests.support.uploading import upload_file

pytestmark = pytest.mark.browser
CHROM, LENGTH = "chr1", 1000
READ_LENGTH = 50


def make_genomic_files(directory: Path) -> dict[str, Path]:
    """A 1 kb reference (+ .fai), 60 reads on it as a sorted, indexed BAM, three SNVs as a bgzipped VCF (+ .tbi)."""
    rng = random.Random(15)
    sequence = "".join(rng.choice("ACGT") for _ in range(LENGTH))
    fasta = directory / "ref.fa"
    fasta.write_text(f">{CHROM}\n" + "\n".join(sequence[i : i + 60] for i in range(0, LENGTH, 60)) + "\n")
    pysam.faidx(str(fasta))

    bam = directory / "reads.bam"
    header = {"HD": {"VN": "1.6", "SO": "coordinate"}, "SQ": [{"SN": CHROM, "LN": LENGTH}]}
    with pysam.AlignmentFile(str(bam), "wb", header=header) as out:
        for n, start in enumerate(sorted(rng.randrange(60, 260) for _ in range(60))):
            read = pysam.AlignedSegment(out.header)
            read.query_name = f"read{n}"
            read.reference_id = 0
            read.reference_start = start
            read.mapping_quality = 60
            read.cigartuples = [(0, READ_LENGTH)]  # 50M
            read.query_sequence = sequence[start : start + READ_LENGTH]
            read.query_qualities = pysam.qualitystring_to_array("I" * READ_LENGTH)
            out.write(read)
    pysam.index(str(bam))  # reads.bam.bai

    vcf = directory / "calls.vcf"
    rows = []
    for pos in (120, 150, 180):
        ref = sequence[pos - 1]
        alt = "A" if ref != "A" else "C"
        rows.append(f"{CHROM}\t{pos}\tsnv{pos}\t{ref}\t{alt}\t50\tPASS\t.\tGT\t0/1")
    vcf.write_text(
        "##fileformat=VCFv4.2\n"
        f"##contig=<ID={CHROM},length={LENGTH}>\n"
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tsample1\n" + "\n".join(rows) + "\n"
    )
    vcf_gz = Path(pysam.tabix_index(str(vcf), preset="vcf", force=True))  # calls.vcf.gz + calls.vcf.gz.tbi
    return {
        "ref.fa": fasta,
        "ref.fa.fai": directory / "ref.fa.fai",
        "reads.bam": bam,
        "reads.bam.bai": directory / "reads.bam.bai",
        "calls.vcf.gz": vcf_gz,
        "calls.vcf.gz.tbi": directory / "calls.vcf.gz.tbi",
        "lonely.bam": bam,  # the same reads, no index next to it
    }


async def upload_all(live_server: LiveServer, lab: Lab, files: dict[str, Path]) -> dict[str, dict[str, Any]]:
    headers = {"Authorization": f"Bearer {lab.user_token}"}
    async with httpx.AsyncClient(base_url=live_server.url, timeout=30) as client:
        return {
            name: await upload_file(client, headers, lab.dataset["id"], name, path.read_bytes())
            for name, path in files.items()
        }


# True when the igv track labelled `name` has drawn something: a canvas of its viewport with a pixel that is
# neither transparent nor white. igv.js 3 renders into a shadow root, which querySelector does not enter.
TRACK_DRAWN = """(name) => {
    const all = (root) => [...root.querySelectorAll('*')].flatMap((el) => [el, ...(el.shadowRoot ? all(el.shadowRoot) : [])]);
    const label = all(document.querySelector('[data-testid=igv]').parentElement)
        .find((el) => el.classList.contains('igv-track-label') && el.textContent.trim() === name);
    const viewport = label && label.closest('.igv-viewport');
    if (!viewport) return false;
    for (const canvas of viewport.querySelectorAll('canvas')) {
        if (!canvas.width || !canvas.height) continue;
        const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
        for (let i = 0; i < data.length; i += 4) {
            if (data[i + 3] > 0 && (data[i] < 240 || data[i + 1] < 240 || data[i + 2] < 240)) return true;
        }
    }
    return false;
}"""


async def open_viewer(page: Any, name: str) -> Any:
    row = file_row(page, name)
    await row.wait_for()
    await row.get_by_role("button").first.click()
    drawer = page.get_by_test_id("file-detail")
    await drawer.get_by_test_id("view-genome").click()
    return page.get_by_test_id("genome-viewer")


async def show_region(page: Any, viewer: Any, track: str, reference: str) -> None:
    """Picks the reference, types the region into igv's own locus box, waits until the track has drawn."""
    select = viewer.get_by_test_id("reference-select")
    await select.locator("option", has_text=reference).wait_for(state="attached")
    await select.select_option(label=reference)
    await viewer.locator("[data-testid=igv][data-ready=true]").wait_for()
    search = viewer.locator(".igv-search-input")
    await search.wait_for()
    await search.fill("chr1:100-200")
    await search.press("Enter")
    await viewer.locator(".igv-track-label", has_text=track).wait_for()
    await page.wait_for_function(TRACK_DRAWN, arg=track, timeout=15_000)


async def close(page: Any, viewer: Any) -> None:
    await viewer.get_by_role("button", name="Close").click()
    await viewer.wait_for(state="hidden")
    await page.get_by_test_id("file-detail").get_by_role("button", name="Close").last.click()


async def test_bam_and_vcf_are_drawn_from_byte_ranges_and_a_missing_index_is_named(
    page: Any, lab: Lab, live_server: LiveServer, tmp_path: Path
) -> None:
    stored = await upload_all(live_server, lab, make_genomic_files(tmp_path))
    reference = f"{lab.project['code']}/{lab.dataset['code']}/ref.fa"
    bam_key = stored["reads.bam"]["object_key"]
    bam_gets: list[Any] = []
    page.on("request", lambda r: bam_gets.append(r) if r.method == "GET" and bam_key in r.url else None)

    await login(page, lab.user, [lab.group])
    await choose_dataset(page, lab)
    await page.get_by_role("link", name="Files").click()

    viewer = await open_viewer(page, "reads.bam")
    await show_region(page, viewer, "reads.bam", reference)
    assert bam_gets, "igv.js read nothing of the BAM from S3"
    for request in bam_gets:
        assert "X-Amz-Signature=" in request.url  # straight from S3, presigned
        range_header = (await request.all_headers()).get("range", "")
        assert range_header.startswith("bytes="), f"a GET of the whole BAM: {request.url[:120]}"
    await close(page, viewer)

    viewer = await open_viewer(page, "calls.vcf.gz")
    await show_region(page, viewer, "calls.vcf.gz", reference)
    await close(page, viewer)

    viewer = await open_viewer(page, "lonely.bam")
    missing = viewer.get_by_test_id("missing-index")
    await missing.wait_for()
    assert "No index lonely.bam.bai" in await missing.inner_text()
    assert "upload one to view it" in await missing.inner_text()
    assert await viewer.get_by_test_id("reference-select").count() == 0
