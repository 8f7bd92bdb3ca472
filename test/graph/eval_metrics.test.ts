// The CLI's eval metrics: SQNR, cosine, top-1 agreement and the disagreeing images with their float margins.

import {describe, expect, it} from 'vitest';

import {EvalAccumulator} from '../../src/cli/eval_metrics';

const vector = (values: number[]) => ({shape: [1, values.length], values});

describe('EvalAccumulator', () => {
  it('lists the images whose top-1 differs, with the float top-2 margin, closest tie first', () => {
    const acc = new EvalAccumulator();
    acc.add(['scores'], [vector([0.5, 0.3, 0.2])], [vector([0.49, 0.31, 0.2])], 'same.jpg');
    acc.add(['scores'], [vector([0.40, 0.38, 0.22])], [vector([0.37, 0.41, 0.22])], 'near-tie.jpg');
    acc.add(['scores'], [vector([0.1, 0.2, 0.7])], [vector([0.5, 0.1, 0.4])], 'far.jpg');
    acc.add(['scores'], [vector([0.34, 0.33, 0.33])], [vector([0.33, 0.335, 0.335])], 'tie.jpg');
    const result = acc.result();
    expect(result.images).toBe(4);
    expect(result.top1Agreement).toBe(0.25);
    const d = result.perOutput.scores.disagreements!;
    expect(d.map(x => x.image)).toEqual(['tie.jpg', 'near-tie.jpg', 'far.jpg']);
    expect(d[0]).toMatchObject({floatClass: 0, quantizedClass: 1});
    expect(d[0].floatMargin).toBeCloseTo(0.01, 12);
    expect(d[1].floatMargin).toBeCloseTo(0.02, 12);
    expect(d[2]).toMatchObject({floatClass: 2, quantizedClass: 0});
    expect(d[2].floatMargin).toBeCloseTo(0.5, 12);
  });

  it('reports no disagreements when every top-1 agrees, and none for outputs that are not class vectors', () => {
    const acc = new EvalAccumulator();
    const map = {shape: [1, 2, 2, 1], values: [1, 2, 3, 4]};
    acc.add(['scores', 'map'], [vector([0.9, 0.1]), map], [vector([0.8, 0.2]), {...map, values: [1, 2, 3, 4.1]}]);
    const result = acc.result();
    expect(result.perOutput.scores.top1Agreement).toBe(1);
    expect(result.perOutput.scores.disagreements).toBeUndefined();
    expect(result.perOutput.map.top1Agreement).toBeUndefined();
    expect(result.perOutput.map.disagreements).toBeUndefined();
  });
});
