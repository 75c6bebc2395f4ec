"""Generated titles are laid out like real deliveries: audio interleaved with video through the file."""

import av

from prism.media.synth import AudioTrack, Scene, Tone, write_title


def test_generated_title_interleaves_audio_with_video_in_the_file(tmp_path):
    path = tmp_path / "interleaved.mp4"
    write_title(path, [Scene(1, 15.0), Scene(2, 15.0)], [AudioTrack("eng", (Tone(0.5, 29.0),))],
                width=160, height=90, fps=25.0)
    video = []  # (byte offset in the file, time) of every video packet
    audio = []
    with av.open(str(path)) as container:
        for packet in container.demux():
            if packet.pts is None or packet.size == 0 or packet.pos is None or packet.pos < 0:
                continue
            row = (packet.pos, float(packet.pts * packet.time_base))
            (video if packet.stream.type == "video" else audio).append(row)
    assert len(audio) > 300 and len(video) == 750
    video.sort()
    # Each audio packet sits in the file among the video packets of about the same time: a
    # one-pass reader gets a second of sound with its second of picture, not all at the end.
    for pos, t in audio:
        before = [vt for vpos, vt in video if vpos < pos]
        nearby_video_s = before[-1] if before else 0.0
        assert abs(t - nearby_video_s) < 2.5, (pos, t, nearby_video_s)
